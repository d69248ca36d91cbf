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
  ) {}
}

/**
 * The optimistic writes of a client, in the order they were made: what the replica re-applies,
 * in that order, on top of the server's confirmed state of each record they touch.
 */
export class PendingWrites {
  private writes: OptimisticWrite[] = [];
  /** How many there are (`RemoteDatabase.pending$`). */
  readonly count$ = new BehaviorSubject(0);

  get size(): number {
    return this.writes.length;
  }

  add(write: OptimisticWrite): void {
    this.writes.push(write);
    this.count$.next(this.writes.length);
  }

  /** Drops a write (confirmed and reflected, refused, or timed out); false when it was not there. */
  remove(write: OptimisticWrite): boolean {
    const at = this.writes.indexOf(write);
    if (at === -1) return false;
    this.writes.splice(at, 1);
    this.count$.next(this.writes.length);
    return true;
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
    for (const write of this.writes) for (const op of write.ops) if (op.key === key && op.table === table) ops.push(op);
    return ops;
  }

  /** Every record a pending write touches, by table. */
  keysOf(table: string): Set<string> {
    const keys = new Set<string>();
    for (const write of this.writes) for (const op of write.ops) if (op.table === table) keys.add(op.key);
    return keys;
  }

  clear(): void {
    this.writes = [];
    this.count$.next(0);
  }
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
