import { ErrorCode, RxkvError } from '../errors.js';
import type { Json, Operation } from '../json/types.js';
import { netChange, type Change } from '../model/change.js';
import type { ServerMessage } from '../sync/protocol.js';

/** A change as sent (`WireChange` JSON). */
export function changeJson(change: Change): string {
  const { table, key, op, seq, ts, value, patch } = change;
  return JSON.stringify({ table, key, op, seq, ts, patch: reachesPrototype(patch) ? [{ op: 'replace', path: '', value }] : patch });
}

/**
 * Several changes of one record, sent to a client that fell behind as one change. It keeps the
 * record as it was before the first and after the last, and none of the versions between.
 */
export class Squashed {
  readonly table: string;
  readonly key: string;
  private readonly previous: Json | undefined;
  value: Json | undefined;
  seq: number;
  ts: number;

  constructor(first: Change) {
    this.table = first.table;
    this.key = first.key;
    this.previous = first.previous;
    this.value = first.value;
    this.seq = first.seq;
    this.ts = first.ts;
  }

  absorb(change: Change): void {
    this.value = change.value;
    this.seq = change.seq;
    this.ts = change.ts;
  }

  /**
   * The net change, or undefined when there is none: a record created and deleted meanwhile, or
   * changed and changed back, is not a change (a local table would not emit one either).
   */
  json(): string | undefined {
    const net = netChange(this.previous, this);
    return net === null ? undefined : changeJson(net);
  }
}

/**
 * A `changes` message, as the bytes to send. Connections that get the same changes in the same
 * tick (subscribers of a whole table, say) share one: it is built and encoded once.
 */
export function changesMessage(changes: readonly string[]): Buffer {
  if (changes.length === last.changes.length && changes.every((json, i) => json === last.changes[i])) return last.message;
  const message = Buffer.from(`{"type":"changes","changes":[${changes.join(',')}]}`);
  last = { changes, message };
  return message;
}
let last: { changes: readonly string[]; message: Buffer } = { changes: [], message: Buffer.alloc(0) };

export function message(value: ServerMessage): string {
  return JSON.stringify(value);
}

/**
 * Whether a patch names a member many JSON Patch libraries refuse to touch (`fast-json-patch`
 * throws on `__proto__` and `constructor/prototype`, guarding against prototype pollution).
 * rxkv's own client applies such paths as plain data; such a record is sent whole anyway (a root
 * replace, taken as the new value), so that clients of the protocol built on those libraries can
 * apply every change.
 */
function reachesPrototype(patch: readonly Operation[]): boolean {
  for (const { path } of patch) {
    if (path.includes('/__proto__') || path.includes('/constructor/prototype')) return true;
  }
  return false;
}

/** What an error reply says: an `RxkvError`'s code and message; anything else is the server's own failure. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof RxkvError) return { code: error.code, message: error.message };
  return { code: ErrorCode.INTERNAL, message: 'The server failed to handle this request.' };
}
