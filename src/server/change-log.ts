import type { Change } from '../engine/change.js';

/**
 * The most recent changes of the whole database, oldest first, so that a client that reconnects
 * can be sent what it missed instead of a fresh snapshot. Bounded: a ring of `capacity` changes.
 */
export class ChangeLog {
  private readonly ring: (Change | undefined)[];
  private start = 0;
  private count = 0;
  /** Every change with a seq above this is in the log. */
  private floor: number;

  constructor(
    private readonly capacity: number,
    seq: number,
  ) {
    this.ring = new Array<Change | undefined>(capacity);
    this.floor = seq;
  }

  append(change: Change): void {
    if (this.capacity === 0) {
      this.floor = change.seq;
      return;
    }
    if (this.count === this.capacity) {
      // Changes of one commit share a seq: once one of them is gone, that seq is no longer whole.
      this.floor = this.ring[this.start]!.seq;
      this.ring[this.start] = change;
      this.start = (this.start + 1) % this.capacity;
    } else {
      this.ring[(this.start + this.count) % this.capacity] = change;
      this.count++;
    }
  }

  /** The changes after `since`, oldest first; undefined when the log no longer holds all of them. */
  after(since: number, seq: number): Change[] | undefined {
    if (since < this.floor || since > seq) return undefined;
    const changes: Change[] = [];
    for (let i = 0; i < this.count; i++) {
      const change = this.ring[(this.start + i) % this.capacity]!;
      if (change.seq > since) changes.push(change);
    }
    return changes;
  }

  /** Forgets everything: history restarted at `seq`. */
  reset(seq: number): void {
    this.ring.fill(undefined);
    this.start = 0;
    this.count = 0;
    this.floor = seq;
  }
}
