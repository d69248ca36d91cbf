import type { Operation } from '../json/types.js';
import { diff } from '../json/diff.js';
import { changeOp, type Change } from '../model/change.js';
import type { Entry } from '../model/record.js';
import type { TableState } from './table-state.js';

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
  /** The time of the commit that wrote it, set with `seq`. */
  ts = 0;
}

/**
 * The event of a published mutation. Its patch is computed on first read (a getter that keeps
 * its result): most subscribers of a busy table never look at it. As an own enumerable property
 * it still survives spreading, `JSON.stringify` and deep equality.
 */
export function toChange(mutation: Mutation): Change {
  const previous = mutation.before?.value;
  const value = mutation.after?.value;
  let patch: Operation[] | undefined;
  return {
    table: mutation.state.name,
    key: mutation.key,
    op: changeOp(previous, value),
    value,
    previous,
    get patch() {
      return (patch ??= diff(previous, value));
    },
    seq: mutation.seq,
    ts: mutation.ts,
  };
}
