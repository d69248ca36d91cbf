import type { RxkvError } from '../errors.js';
import { EVERY_TABLE, type WireChange } from '../sync/protocol.js';

/**
 * A change stream held on the server without a replica (`RemoteDatabase.changes`): the changes of
 * a table, or of every table, from the moment it was subscribed, and its position to resume from
 * after a drop. It holds no records, so its changes carry patches only.
 */
export class Tail {
  /** The newest seq it delivered (or its `subscribed` reported): a replayed change at or below it came already. */
  seq = 0;

  constructor(
    readonly number: number,
    /** A table's name, or `'*'` for every table. */
    readonly table: string,
    readonly prefix: string | undefined,
    readonly next: (change: WireChange) => void,
    readonly end: (error: RxkvError | undefined) => void,
  ) {}

  covers(change: WireChange): boolean {
    return (this.table === EVERY_TABLE || change.table === this.table) && (this.prefix === undefined || change.key.startsWith(this.prefix));
  }

  /** What it asks the server for. */
  spec(): string {
    return JSON.stringify({ sub: this.number, table: this.table, tail: true, ...(this.prefix === undefined ? {} : { prefix: this.prefix }) });
  }
}
