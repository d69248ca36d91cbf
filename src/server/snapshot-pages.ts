import type { Json } from '../json/types.js';
import { Pages, page } from './pages.js';

/**
 * A subscription's snapshot as `snapshot` messages of about `pageBytes` each (a record larger than
 * that goes alone). Built a page at a time, from records read off an immutable table snapshot, so
 * that a large table neither holds up the server while it is encoded nor makes one message larger
 * than a client takes.
 */
export class SnapshotPages extends Pages {
  /** The record after the page built last, read ahead to tell which page is the last. */
  private readonly ahead: { current: IteratorResult<readonly [string, Json]> };

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
    super();
    this.ahead = { current: records.next() };
  }

  get done(): boolean {
    return this.ahead.current.done === true;
  }

  /** The next page (the first one even when there are no records). */
  next(): string {
    const parts = page(this.ahead, this.records, this.pageBytes, (record) => JSON.stringify(record));
    const partial = this.removed === undefined ? '' : this.done ? `,"partial":true,"removed":${JSON.stringify(this.removed)}` : ',"partial":true';
    return `{"type":"snapshot","sub":${this.sub},"seq":${this.seq},"records":[${parts.join(',')}],"last":${this.done}${partial}}`;
  }
}
