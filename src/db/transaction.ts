import type { Json, MergePatch } from '../json/types.js';
import { ErrorCode, fail } from '../errors.js';
import type { TableWriter } from '../engine/intent.js';
import type { Engine } from '../engine/lifecycle.js';
import type { TableSource } from '../engine/table-state.js';
import { DELETE_SPEC, type Recipe, type WriteSpec } from '../engine/writes.js';
import { checkKey } from '../model/keys.js';
import type { RecordMeta } from '../model/record.js';
import { checkWriteOptions, incrementSpec, mergeSpec, produceSpec, putSpec, type WriteOptions } from './arguments.js';

/**
 * The handle a `db.transaction(fn)` callback receives. It runs when the transaction's turn in
 * the pipeline comes, against the state every earlier write left: its reads see that state and
 * its own writes, and its writes return their results at once. All of them commit together, or
 * none does (when `fn` throws, or one of its writes fails).
 */
export class Transaction {
  /** @internal */
  constructor(
    private readonly engine: Engine,
    private readonly writer: TableWriter,
  ) {}

  table<T = Json>(name: string): TransactionTable<T> {
    this.check();
    return new TransactionTable<T>(this.engine.table(name), this.writer, this.engine.maxValueBytes, () => this.check());
  }

  /** @internal The seq this transaction commits with (for `rxkv/server`'s replies). */
  get seq(): number {
    return this.writer.seq;
  }

  /** @internal The seq this transaction commits with if it writes anything. */
  get commitSeq(): number {
    return this.writer.commitSeq;
  }

  /** @internal A table of rxkv's own (`#name`), for `rxkv/server`'s records: written with the transaction. */
  internalTable<T = Json>(name: `#${string}`): TransactionTable<T> {
    this.check();
    return new TransactionTable<T>(this.engine.internalTable(name), this.writer, Number.POSITIVE_INFINITY, () => this.check());
  }

  private check(): void {
    if (!this.writer.isOpen) fail(ErrorCode.INVALID_ARGUMENT, 'This transaction has ended: use its handle only inside the transaction function.');
  }
}

/** A table inside a transaction: reads and synchronous writes, committed with the transaction. */
export class TransactionTable<T = Json> {
  /** @internal */
  constructor(
    private readonly state: TableSource,
    private readonly writer: TableWriter,
    private readonly maxValueBytes: number,
    private readonly check: () => void,
  ) {}

  get name(): string {
    return this.state.name;
  }

  get(key: string): T | undefined {
    this.check();
    return this.writer.read(this.state, checkKey(key)) as T | undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Created and updated times and version of a record, as the transaction sees it (one it wrote: at its commit's seq). */
  meta(key: string): RecordMeta | undefined {
    this.check();
    const entry = this.writer.entry(this.state, checkKey(key));
    return entry === undefined ? undefined : { created: entry.created, updated: entry.updated, version: entry.version };
  }

  merge(key: string, patch: MergePatch<T>, options?: WriteOptions): T {
    const ifVersion = this.begin(key, options);
    return this.write(key, mergeSpec(patch, this.maxValueBytes, false), ifVersion) as T;
  }

  update(key: string, patch: MergePatch<T>, options?: WriteOptions): T | undefined {
    const ifVersion = this.begin(key, options);
    return this.write(key, mergeSpec(patch, this.maxValueBytes, true), ifVersion);
  }

  put(key: string, value: T, options?: WriteOptions): T {
    const ifVersion = this.begin(key, options);
    return this.write(key, putSpec(value, this.maxValueBytes), ifVersion) as T;
  }

  delete(key: string, options?: WriteOptions): undefined {
    const ifVersion = this.begin(key, options);
    this.write(key, DELETE_SPEC, ifVersion);
    return undefined;
  }

  increment(key: string, path: string | readonly string[], by = 1, options?: WriteOptions): T {
    const ifVersion = this.begin(key, options);
    return this.write(key, incrementSpec(path, by), ifVersion) as T;
  }

  produce(key: string, recipe: Recipe<T>, options?: WriteOptions): T | undefined {
    const ifVersion = this.begin(key, options);
    return this.write(key, produceSpec(recipe), ifVersion);
  }

  /** Deletes every record of the table; returns how many there were. */
  clear(): number {
    this.check();
    return this.writer.clear(this.state);
  }

  private begin(key: string, options: WriteOptions | undefined): number | undefined {
    this.check();
    checkKey(key);
    return checkWriteOptions(options);
  }

  private write(key: string, spec: WriteSpec, ifVersion: number | undefined): T | undefined {
    return this.writer.write(this.state, key, spec, ifVersion) as T | undefined;
  }
}
