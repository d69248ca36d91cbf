import type { Json, Operation } from '../json/types.js';
import { diff } from '../json/diff.js';
import type { Entry } from './entry.js';
import type { TableState } from './table-state.js';

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
}

/** One record written by one commit, as the pipeline tracks it. */
export class Mutation {
  constructor(
    readonly state: TableState,
    readonly key: string,
    readonly before: Entry | undefined,
    readonly after: Entry | undefined,
    /**
     * The encoded record (undefined for a delete), until the pipeline hands it to storage: it is
     * dropped then, so that a batch's strings die young instead of outliving a GC cycle.
     */
    public encoded: string | undefined,
  ) {}

  /** The seq of the commit that wrote it, set when its batch is sealed. */
  seq = 0;
}

/**
 * The event of a published mutation. Its patch is computed on first read (a getter that keeps
 * its result): most subscribers of a busy table never look at it. As an own enumerable property
 * it still survives spreading, `JSON.stringify` and deep equality.
 */
export function toChange(mutation: Mutation, ts: number): Change {
  const { before, after } = mutation;
  const previous = before?.value;
  const value = after?.value;
  let patch: Operation[] | undefined;
  return {
    table: mutation.state.name,
    key: mutation.key,
    op: before === undefined ? 'new' : after === undefined ? 'delete' : 'merge',
    value,
    previous,
    get patch() {
      return (patch ??= diff(previous, value));
    },
    seq: mutation.seq,
    ts,
  };
}
