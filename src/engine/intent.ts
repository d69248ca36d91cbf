import type { Json } from '../json/types.js';
import { jsonEqual } from '../json/equal.js';
import type { Entry } from '../model/record.js';
import { Mutation } from './mutation.js';
import { TransactionLayer } from './working-set.js';
import { DELETE_SPEC, applyWrite, type ApplyContext, type WriteSpec } from './writes.js';
import type { TableSource, TableState } from './table-state.js';

/**
 * Where `captureResolvers` leaves the resolve and reject functions of the promise being created.
 * Creating a write's promise with this shared executor instead of a closure saves an allocation
 * per write.
 */
export const resolvers = {
  resolve: undefined as unknown as (result: never) => void,
  reject: undefined as unknown as (error: unknown) => void,
};

export function captureResolvers(resolve: (result: never) => void, reject: (error: unknown) => void): void {
  resolvers.resolve = resolve;
  resolvers.reject = reject;
}

/**
 * A write waiting in the pipeline: validated when it was called, applied to the working state
 * when its batch is built, resolved or rejected when the batch is published (or fails).
 */
export abstract class Intent {
  result: unknown = undefined;
  /** Set when applying it threw: it is rejected with this when its batch is published. */
  error: unknown = undefined;
  failed = false;
  /** The time it is applied at; undefined: its batch's (a cluster's writes carry their message's). */
  ts: number | undefined = undefined;
  /** False for all but the last intent of a group the pipeline commits in one batch (a cluster's message). */
  endsGroup = true;
  constructor(
    readonly resolve: (result: never) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  /**
   * Applies the intent to `context.working` and returns what it wrote (null: nothing); throws,
   * leaving the working state untouched, to reject.
   */
  abstract apply(context: ApplyContext): Mutation | readonly Mutation[] | null;
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

  apply(context: ApplyContext): Mutation | null {
    const mutation = applyWrite(context, this.state, this.key, this.spec, this.ifVersion);
    this.result = mutation !== null ? mutation.after?.value : context.working.read(this.state, this.key)?.value;
    return mutation;
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
    private readonly body: (writer: TableWriter) => unknown,
    /**
     * Runs in the body's place when the body fails, at the same point of the pipeline: its writes
     * commit instead, and its result is the intent's (a record of the failure, say).
     */
    private readonly fallback?: (writer: TableWriter, error: unknown) => unknown,
  ) {
    super(resolve, reject);
  }

  apply(context: ApplyContext): readonly Mutation[] | null {
    try {
      return this.run(context, (writer) => this.body(writer));
    } catch (error) {
      if (this.fallback === undefined) throw error;
      return this.run(context, (writer) => this.fallback!(writer, error));
    }
  }

  private run(context: ApplyContext, body: (writer: TableWriter) => unknown): readonly Mutation[] | null {
    const writer = new LayerWriter(context);
    try {
      this.result = body(writer);
    } finally {
      writer.close();
    }
    return writer.finish();
  }
}

/** What a transaction's handles write through: reads and writes of its layer, at once. */
export interface TableWriter {
  readonly isOpen: boolean;
  /** The seq the transaction commits with; when it has written nothing, the seq of the state it read. */
  readonly seq: number;
  /** The seq the transaction commits with if it writes anything. */
  readonly commitSeq: number;
  read(table: TableSource, key: string): Json | undefined;
  /** The record with its metadata, as the transaction sees it (its own writes at its commit's seq). */
  entry(table: TableSource, key: string): Entry | undefined;
  /** Returns the record it leaves; throws (and dooms the transaction) when the write fails. */
  write(table: TableSource, key: string, spec: WriteSpec, ifVersion: number | undefined): Json | undefined;
  /** Deletes every record of the table; returns how many there were. */
  clear(table: TableSource): number;
}

/**
 * Writes of a multi-write intent, coalesced per record. Its tables are table states of the engine
 * that made the transaction (the only sources it hands out).
 */
class LayerWriter implements TableWriter {
  private readonly layer: TransactionLayer;
  private readonly context: ApplyContext;
  private readonly touched = new Map<TableState, Map<string, { before: Mutation['before']; last: Mutation }>>();
  private open = true;
  /** The first write of the transaction that failed. */
  private failure: { error: unknown } | null = null;

  constructor(outer: ApplyContext) {
    this.layer = new TransactionLayer(outer.working, outer.seq);
    this.context = { working: this.layer, seq: outer.seq, ts: outer.ts, encode: outer.encode };
  }

  get isOpen(): boolean {
    return this.open;
  }

  get seq(): number {
    return this.touched.size > 0 ? this.context.seq : this.context.seq - 1;
  }

  get commitSeq(): number {
    return this.context.seq;
  }

  read(table: TableSource, key: string): Json | undefined {
    return this.layer.read(table as TableState, key)?.value;
  }

  entry(table: TableSource, key: string): Entry | undefined {
    return this.layer.read(table as TableState, key);
  }

  write(table: TableSource, key: string, spec: WriteSpec, ifVersion: number | undefined): Json | undefined {
    const state = table as TableState;
    let mutation: Mutation | null;
    try {
      mutation = applyWrite(this.context, state, key, spec, ifVersion);
    } catch (error) {
      this.failure ??= { error }; // all or nothing, even if the transaction function catches it
      throw error;
    }
    if (mutation === null) return this.layer.read(state, key)?.value;
    let records = this.touched.get(state);
    if (records === undefined) this.touched.set(state, (records = new Map()));
    const seen = records.get(key);
    records.set(key, { before: seen === undefined ? mutation.before : seen.before, last: mutation });
    return mutation.after?.value;
  }

  clear(table: TableSource): number {
    const keys = this.layer.presentKeys(table as TableState);
    for (const key of keys) this.write(table, key, DELETE_SPEC, undefined);
    return keys.length;
  }

  close(): void {
    this.open = false;
  }

  /** The net mutations (null: none), folded into the outer working state. */
  finish(): readonly Mutation[] | null {
    if (this.failure !== null) throw this.failure.error;
    const mutations: Mutation[] = [];
    for (const [state, table] of this.touched) {
      for (const [key, { before, last }] of table) {
        const after = last.after;
        if (before === after || (before !== undefined && after !== undefined && jsonEqual(before.value, after.value))) {
          this.layer.forget(state, key); // created and deleted, or changed and changed back: no change at all
          continue;
        }
        mutations.push(before === last.before ? last : new Mutation(state, key, before, after, last.encoded));
      }
    }
    this.layer.fold();
    return mutations.length === 0 ? null : mutations;
  }
}
