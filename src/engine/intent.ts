import type { Json } from '../json/types.js';
import { jsonEqual } from '../json/equal.js';
import { Mutation } from './change.js';
import { TransactionLayer } from './working-set.js';
import { applyWrite, type ApplyContext, type WriteSpec } from './writes.js';
import type { TableState } from './table-state.js';
import { DELETE_SPEC } from './arguments.js';

const NO_MUTATIONS: readonly Mutation[] = Object.freeze([]);

/**
 * A write waiting in the pipeline: validated when it was called, applied to the working state
 * when its batch is built, settled when the batch is published (or fails).
 */
export abstract class Intent {
  /** What applying it wrote (empty: it changed nothing). */
  mutations: readonly Mutation[] = NO_MUTATIONS;
  result: unknown = undefined;
  /** Set when applying it threw: it is rejected with this when its batch settles. */
  error: unknown = undefined;
  failed = false;
  /** The commit's seq, once it wrote something. */
  seq = 0;

  constructor(
    readonly resolve: (result: never) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  /** Applies the intent to `context.working`; throws, leaving it untouched, to reject. */
  abstract apply(context: ApplyContext): void;
}

/** One write of one record. */
export class WriteIntent extends Intent {
  constructor(
    resolve: (result: never) => void,
    reject: (error: unknown) => void,
    private readonly state: TableState,
    private readonly key: string,
    private readonly spec: WriteSpec,
    private readonly ifVersion: number | undefined,
  ) {
    super(resolve, reject);
  }

  apply(context: ApplyContext): void {
    const mutation = applyWrite(context, this.state, this.key, this.spec, this.ifVersion);
    if (mutation !== null) {
      this.mutations = [mutation];
      this.result = mutation.after?.value;
    } else {
      this.result = context.working.read(this.state, this.key)?.value;
    }
  }
}

/**
 * Several writes committed atomically, with one seq. Writes go to a layer over the batch's
 * working state, folded in only if all of them succeed. Several writes of one record within it
 * become one change, from the record before the transaction to the record after it.
 */
export class MultiWriteIntent extends Intent {
  constructor(
    resolve: (result: never) => void,
    reject: (error: unknown) => void,
    private readonly body: (writer: LayerWriter) => unknown,
  ) {
    super(resolve, reject);
  }

  apply(context: ApplyContext): void {
    const writer = new LayerWriter(context);
    try {
      this.result = this.body(writer);
    } finally {
      writer.close();
    }
    this.mutations = writer.finish();
  }
}

/** Writes of a multi-write intent, coalesced per record. */
export class LayerWriter {
  private readonly layer: TransactionLayer;
  private readonly context: ApplyContext;
  private readonly touched = new Map<TableState, Map<string, { before: Mutation['before']; last: Mutation }>>();
  private open = true;

  constructor(outer: ApplyContext) {
    this.layer = new TransactionLayer(outer.working);
    this.context = { working: this.layer, seq: outer.seq, ts: outer.ts, encode: outer.encode };
  }

  get isOpen(): boolean {
    return this.open;
  }

  read(state: TableState, key: string): Json | undefined {
    return this.layer.read(state, key)?.value;
  }

  write(state: TableState, key: string, spec: WriteSpec, ifVersion: number | undefined): Json | undefined {
    const mutation = applyWrite(this.context, state, key, spec, ifVersion);
    if (mutation === null) return this.layer.read(state, key)?.value;
    let table = this.touched.get(state);
    if (table === undefined) this.touched.set(state, (table = new Map()));
    const seen = table.get(key);
    table.set(key, { before: seen === undefined ? mutation.before : seen.before, last: mutation });
    return mutation.after?.value;
  }

  /** Deletes every record of the table; returns how many there were. */
  clear(state: TableState): number {
    const keys = this.layer.presentKeys(state);
    for (const key of keys) this.write(state, key, DELETE_SPEC, undefined);
    return keys.length;
  }

  close(): void {
    this.open = false;
  }

  /** The net mutations, folded into the outer working state. */
  finish(): readonly Mutation[] {
    const mutations: Mutation[] = [];
    for (const [state, table] of this.touched) {
      for (const [key, { before, last }] of table) {
        const after = last.after;
        if (before === after) continue;
        if (before !== undefined && after !== undefined && jsonEqual(before.value, after.value)) {
          this.layer.write(state, key, before); // changed and changed back: no change at all
          continue;
        }
        mutations.push(before === last.before ? last : new Mutation(state, key, before, after, last.encoded));
      }
    }
    this.layer.fold();
    return mutations.length === 0 ? NO_MUTATIONS : mutations;
  }
}
