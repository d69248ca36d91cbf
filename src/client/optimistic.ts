import { BehaviorSubject } from 'rxjs';
import { mergePatch } from '../json/merge.js';
import type { Json } from '../json/types.js';
import type { WriteOp } from '../sync/protocol.js';

/** A write the replica shows before the server confirmed it. */
export class OptimisticWrite {
  /** The seq of its commit, once the server answered: it stays shown until the replica reflects that seq. */
  seq: number | undefined = undefined;

  constructor(
    /** Its ops, with frozen copies of their values (the caller may change its own after the call). */
    readonly ops: readonly WriteOp[],
    /** Its mutation number (the write it shows). */
    readonly m: number,
  ) {}
}

/**
 * The optimistic writes of a client, in the order they were made: what the replica re-applies,
 * in that order, on top of the server's confirmed state of each record they touch.
 */
export class PendingWrites {
  private writes: OptimisticWrite[] = [];
  /** The writes on each record (`table \0 key`), in order: a rebase reads those only. */
  private readonly byRecord = new Map<string, OptimisticWrite[]>();
  /** How many there are (`RemoteDatabase.pending$`), told by `announce`. */
  readonly count$ = new BehaviorSubject(0);

  get size(): number {
    return this.writes.length;
  }

  add(write: OptimisticWrite): void {
    this.writes.push(write);
    for (const record of records(write)) {
      const writes = this.byRecord.get(record);
      if (writes === undefined) this.byRecord.set(record, [write]);
      else writes.push(write);
    }
  }

  /** Drops a write (confirmed and reflected, refused, or timed out); false when it was not there. */
  remove(write: OptimisticWrite): boolean {
    const at = this.writes.indexOf(write);
    if (at === -1) return false;
    this.writes.splice(at, 1);
    for (const record of records(write)) {
      const left = this.byRecord.get(record)!.filter((each) => each !== write);
      if (left.length === 0) this.byRecord.delete(record);
      else this.byRecord.set(record, left);
    }
    return true;
  }

  /** Tells `count$` how many there are: once the replica shows them (a subscriber reading it sees the same). */
  announce(): void {
    if (this.count$.value !== this.writes.length) this.count$.next(this.writes.length);
  }

  /** The writes the server committed at or before `seq`: once the replica reflects `seq`, they are in its confirmed state. */
  committedBy(seq: number): OptimisticWrite[] {
    return this.writes.filter((write) => write.seq !== undefined && write.seq <= seq);
  }

  /** The writes the server committed (their seq known), whatever the replica reflects. */
  committed(): OptimisticWrite[] {
    return this.writes.filter((write) => write.seq !== undefined);
  }

  /** The ops of every pending write on one record, in order. */
  opsOf(table: string, key: string): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const write of this.byRecord.get(table + '\0' + key) ?? []) for (const op of write.ops) if (op.key === key && op.table === table) ops.push(op);
    return ops;
  }

  clear(): void {
    this.writes = [];
    this.byRecord.clear();
    this.count$.next(0);
  }
}

/** The records a write touches, each once. */
function records(write: OptimisticWrite): Set<string> {
  return new Set(write.ops.map((op) => op.table + '\0' + op.key));
}

/** A record as the server will make it: `ops` applied in order to its confirmed value (RFC 7396 for merges, as the server does). */
export function applyOps(value: Json | undefined, ops: readonly WriteOp[]): Json | undefined {
  let result = value;
  for (const op of ops) {
    if (op.op === 'delete') result = undefined;
    else if (op.op === 'put') result = op.value;
    else result = mergePatch(result, op.value);
  }
  return result;
}
