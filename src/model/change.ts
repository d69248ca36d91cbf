import { diff } from '../json/diff.js';
import { jsonEqual } from '../json/equal.js';
import type { Json, Operation } from '../json/types.js';

/** `'new'`: the record was created; `'merge'`: an existing record changed; `'delete'`: it was removed. */
export type ChangeOp = 'new' | 'merge' | 'delete';

/** One committed change of one record. */
export interface Change<T = Json> {
  readonly table: string;
  readonly key: string;
  readonly op: ChangeOp;
  /** The record after the change (`undefined` once deleted). */
  readonly value: T | undefined;
  /** The record before it (`undefined` when new). */
  readonly previous: T | undefined;
  /** RFC 6902 operations taking `previous` to `value`, paths relative to the record. */
  readonly patch: readonly Operation[];
  /** The commit's database-wide sequence number (also the record's new version). */
  readonly seq: number;
  /** The commit time, ms since the epoch. */
  readonly ts: number;
  /**
   * Replicas only: the value includes optimistic writes the server has not confirmed yet (its
   * `seq` is then the replica's when it was shown). Absent on committed changes.
   */
  readonly pending?: boolean;
}

/** The op of a change from `previous` to `value` (`undefined`: absent). */
export function changeOp(previous: unknown, value: unknown): ChangeOp {
  return previous === undefined ? 'new' : value === undefined ? 'delete' : 'merge';
}

/** A record as a `'new'` change: how `{ initial: true }` streams begin, one root `add` each. */
export function initialChange<T>(table: string, key: string, value: T, seq: number, ts: number): Change<T> {
  return { table, key, op: 'new', value, previous: undefined, patch: [{ op: 'add', path: '', value: value as Json }], seq, ts };
}

/**
 * Several changes of one record as one: from `previous`, the record before the first of them, to
 * the record after the last, with the seq and time of the last. Null when they cancel out
 * (created and deleted, or changed back): a local table would not emit a change for that either.
 */
export function netChange<T>(previous: T | undefined, last: Pick<Change<T>, 'table' | 'key' | 'value' | 'seq' | 'ts'>): Change<T> | null {
  const { value } = last;
  if (previous === undefined && value === undefined) return null;
  if (previous !== undefined && value !== undefined && jsonEqual(previous as Json, value as Json)) return null;
  return {
    table: last.table,
    key: last.key,
    op: changeOp(previous, value),
    value,
    previous,
    patch: diff(previous as Json | undefined, value as Json | undefined),
    seq: last.seq,
    ts: last.ts,
  };
}
