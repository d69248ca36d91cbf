import type { Json } from '../json/types.js';

/**
 * A subscription's snapshot as `snapshot` messages of about `pageBytes` each (a record larger than
 * that goes alone). Built a page at a time, from records read off an immutable table snapshot, so
 * that a large table neither holds up the server while it is encoded nor makes one message larger
 * than a client takes.
 */
export class SnapshotPages {
  /** The record after the page built last, read ahead to tell which page is the last. */
  private ahead: IteratorResult<readonly [string, Json]>;

  constructor(
    private readonly sub: number,
    private readonly seq: number,
    private readonly records: Iterator<readonly [string, Json]>,
    private readonly pageBytes: number,
    /**
     * With a resume from durable state: the records are only those changed since the client's
     * position, and these the keys deleted since (sent with the last page).
     */
    private readonly removed?: readonly string[],
  ) {
    this.ahead = records.next();
  }

  get done(): boolean {
    return this.ahead.done === true;
  }

  /** The next page (the first one even when there are no records). */
  next(): string {
    const parts: string[] = [];
    let bytes = 0;
    while (this.ahead.done !== true && bytes < this.pageBytes) {
      const json = JSON.stringify(this.ahead.value);
      parts.push(json);
      bytes += json.length;
      this.ahead = this.records.next();
    }
    const partial = this.removed === undefined ? '' : this.done ? `,"partial":true,"removed":${JSON.stringify(this.removed)}` : ',"partial":true';
    return `{"type":"snapshot","sub":${this.sub},"seq":${this.seq},"records":[${parts.join(',')}],"last":${this.done}${partial}}`;
  }
}
