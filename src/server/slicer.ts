/** Work that runs a slice at a time: returns true while it has more to do. */
export type Slice = () => boolean;

/** How long one turn of the event loop may spend on sliced work, in ms. */
const BUDGET_MS = 4;

/**
 * Runs long work (snapshots being encoded for many connections) in slices that share the event
 * loop: round robin, at most `BUDGET_MS` per turn, then it yields to I/O, timers and commits. So the
 * loop's delay stays near the budget however many large snapshots are under way.
 */
export class Slicer {
  private readonly queue: Slice[] = [];
  private scheduled = false;

  schedule(slice: Slice): void {
    this.queue.push(slice);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    const deadline = performance.now() + BUDGET_MS;
    while (this.queue.length > 0 && performance.now() < deadline) {
      const slice = this.queue.shift()!;
      if (slice()) this.queue.push(slice);
    }
    if (this.queue.length > 0) setImmediate(this.run);
    else this.scheduled = false;
  };
}
