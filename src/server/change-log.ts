/** One change as the log keeps it: where it belongs, and its wire form. */
export interface LoggedChange {
  readonly seq: number;
  readonly table: string;
  readonly key: string;
  /** The change as sent (`WireChange` JSON). */
  readonly json: string;
}

/**
 * The most recent changes of the whole database, oldest first, so that a client that reconnects
 * can be sent what it missed instead of a fresh snapshot. Bounded in count and in bytes of JSON:
 * it holds serialized changes, never the records themselves.
 */
export class ChangeLog {
  private entries: (LoggedChange | undefined)[] = [];
  /** Where the live entries start in `entries` (dropped ones are spliced off in bulk). */
  private start = 0;
  private bytes = 0;
  /** Every change with a seq above this is in the log. */
  private floor: number;

  constructor(
    private readonly maxChanges: number,
    private readonly maxBytes: number,
    seq: number,
  ) {
    this.floor = seq;
  }

  append(change: LoggedChange): void {
    this.entries.push(change);
    this.bytes += change.json.length;
    while (this.entries.length - this.start > this.maxChanges || (this.bytes > this.maxBytes && this.entries.length > this.start)) {
      const dropped = this.entries[this.start]!;
      this.entries[this.start++] = undefined; // not kept alive until the array is compacted
      this.bytes -= dropped.json.length;
      // Changes of one commit share a seq: once one of them is gone, that seq is no longer whole.
      this.floor = dropped.seq;
    }
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }

  /** The changes after `since`, oldest first; undefined when the log no longer holds all of them. */
  after(since: number, seq: number): LoggedChange[] | undefined {
    if (since < this.floor || since > seq) return undefined;
    const changes: LoggedChange[] = [];
    for (let i = this.start; i < this.entries.length; i++) {
      const change = this.entries[i]!;
      if (change.seq > since) changes.push(change);
    }
    return changes;
  }

  /** Forgets everything: history restarted at `seq`. */
  reset(seq: number): void {
    this.entries = [];
    this.start = 0;
    this.bytes = 0;
    this.floor = seq;
  }
}
