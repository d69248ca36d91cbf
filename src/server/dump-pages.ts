import { Pages, page } from './pages.js';

/** A dump (see db/dump.ts) as `dump` messages of about `pageBytes` each: its lines, as JSON values. */
export class DumpPages extends Pages {
  private readonly ahead: { current: IteratorResult<string> };

  constructor(
    private readonly id: number,
    private readonly lines: Iterator<string>,
    private readonly pageBytes: number,
  ) {
    super();
    this.ahead = { current: lines.next() };
  }

  get done(): boolean {
    return this.ahead.current.done === true;
  }

  next(): string {
    const parts = page(this.ahead, this.lines, this.pageBytes, (line) => line);
    return `{"type":"dump","id":${this.id},"lines":[${parts.join(',')}],"last":${this.done}}`;
  }
}
