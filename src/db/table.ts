import { Observable } from 'rxjs';
import { ErrorCode, fail } from '../errors.js';
import type { Json, MergePatch } from '../json/types.js';
import type { Engine } from '../engine/lifecycle.js';
import type { Snapshot } from '../engine/snapshot.js';
import type { StateSubject, TableSource } from '../engine/table-state.js';
import { DELETE_SPEC, type Recipe, type WriteSpec } from '../engine/writes.js';
import type { Change } from '../model/change.js';
import { checkChangeFilter, type ChangeFilter } from '../model/filter.js';
import { checkKey, describeValue } from '../model/keys.js';
import { OrderedRecords } from '../model/ordered-records.js';
import type { RangeOptions } from '../model/range.js';
import type { RecordMeta } from '../model/record.js';
import { checkWriteOptions, incrementSpec, mergeSpec, produceSpec, putSpec, type WriteOptions } from './arguments.js';
import { Query, type QueryResult, type QuerySpec } from './query.js';
import { TableIndex } from './table-index.js';

/**
 * A table of JSON records, read from memory and written through the database's pipeline.
 * Reads see committed state only. Every write returns a promise that resolves, once the write
 * is durable, with the resulting record; invalid arguments throw an `RxkvError` at once.
 */
export class Table<T = Json> extends OrderedRecords<T> {
  /** @internal */
  constructor(
    private readonly engine: Engine,
    private readonly state: TableSource,
  ) {
    super();
  }

  get name(): string {
    return this.state.name;
  }

  // ---- reads: the committed state ----

  get(key: string): T | undefined {
    return this.state.entry(key)?.value as T | undefined;
  }

  has(key: string): boolean {
    return this.state.entry(key) !== undefined;
  }

  get size(): number {
    return this.state.size;
  }

  /** Created and updated times and version (the `seq` of its last write) of a record. */
  meta(key: string): RecordMeta | undefined {
    return this.state.head.meta(key);
  }

  /** `[key, value]` pairs in key order within bounds: `{ prefix, gt, gte, lt, lte, limit, reverse }`. */
  range(options?: RangeOptions): IterableIterator<[string, T]> {
    return this.snapshot().range(options);
  }

  /** The table as of now, unchanged by later writes. */
  snapshot(): Snapshot<T> {
    return this.state.head as Snapshot<T>;
  }

  /** The current snapshot, emitting once per commit that changes the table. */
  get state$(): StateSubject<Snapshot<T>> {
    return this.state.state$ as unknown as StateSubject<Snapshot<T>>;
  }

  /**
   * Every committed change of this table, in commit order, or those matching a filter:
   * `{ key }`, `{ keys }`, `{ prefix }`, `{ where: (value, key) => boolean }` (a change whose
   * record matches before or after it), `{ ops }`, and `{ initial: true }` to begin with the
   * matching records as `'new'` changes. Key and prefix subscriptions are indexed: a subscriber
   * costs nothing while its records do not change. An error thrown by `where` goes to that
   * subscriber alone.
   *
   * @example
   * accounts.changes({ prefix: 'eu/', ops: ['new'] }).subscribe((change) => greet(change.value));
   */
  changes(filter: ChangeFilter<T> = {}): Observable<Change<T>> {
    return this.state.changes(checkChangeFilter(filter) as ChangeFilter) as Observable<Change<T>>;
  }

  /**
   * The record's current value (`undefined` when absent), then its value after each change.
   *
   * @example
   * accounts.watch(id).subscribe((account) => render(account));
   */
  watch(key: string): Observable<T | undefined> {
    checkKey(key);
    const state = this.state;
    return new Observable<T | undefined>((subscriber) => {
      subscriber.next(state.entry(key)?.value as T | undefined);
      return state
        .changes({ key }, state.head.seq)
        .subscribe({ next: (change) => subscriber.next(change.value as T | undefined), complete: () => subscriber.complete() });
    });
  }

  /** A secondary index declared with `db.table(name, { indexes })`. */
  index(name: string): TableIndex<T> {
    const index = this.state.index(name);
    if (index === undefined) fail(ErrorCode.INVALID_ARGUMENT, `Table ${this.name} has no index ${describeValue(name)}: declare it in db.table(name, { indexes }).`);
    return new TableIndex<T>(this.state, index);
  }

  /**
   * The records a query selects, now, as `[key, value]` rows; `.live()` on the result gives an
   * Observable of results kept up to date as records enter, leave or move.
   *
   * @example
   * const oldest = people.query({ where: (p) => p.age > 60, sort: (a, b) => b.age - a.age, limit: 3 });
   * oldest.live().subscribe(render);
   */
  query(spec: QuerySpec<T> = {}): QueryResult<T> {
    return new Query<T>(this.state, spec).run();
  }

  // ---- writes: resolved once durable ----

  /** RFC 7396 deep merge; creates the record if absent. */
  merge(key: string, patch: MergePatch<T>, options?: WriteOptions): Promise<T> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, mergeSpec(patch, this.engine.maxValueBytes, false), ifVersion) as Promise<T>;
  }

  /** Like `merge`, but only if the record exists; otherwise resolves `undefined` and writes nothing. */
  update(key: string, patch: MergePatch<T>, options?: WriteOptions): Promise<T | undefined> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, mergeSpec(patch, this.engine.maxValueBytes, true), ifVersion);
  }

  /** Replaces the whole value. */
  put(key: string, value: T, options?: WriteOptions): Promise<T> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, putSpec(value, this.engine.maxValueBytes), ifVersion) as Promise<T>;
  }

  /** Removes the record; resolves `undefined`. */
  delete(key: string, options?: WriteOptions): Promise<undefined> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, DELETE_SPEC, ifVersion) as Promise<undefined>;
  }

  /**
   * Adds `by` (default 1) to the number at `path` (`'counters.a'` or `['counters', 'a']`),
   * counting an absent member as 0.
   */
  increment(key: string, path: string | readonly string[], by = 1, options?: WriteOptions): Promise<T> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, incrementSpec(path, by), ifVersion) as Promise<T>;
  }

  /** Runs an Immer recipe on a draft of the record (`{}` when absent). */
  produce(key: string, recipe: Recipe<T>, options?: WriteOptions): Promise<T | undefined> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, produceSpec(recipe), ifVersion);
  }

  /** Deletes every record in one commit; resolves with how many there were. */
  clear(): Promise<number> {
    this.engine.checkOpen();
    const state = this.state;
    return this.engine.transact((writer) => writer.clear(state));
  }

  /** The checks every write makes first, in this order: open, key, options. Returns `ifVersion`. */
  private begin(key: string, options: WriteOptions | undefined): number | undefined {
    this.engine.checkOpen();
    checkKey(key);
    return checkWriteOptions(options);
  }

  private submit(key: string, spec: WriteSpec, ifVersion: number | undefined): Promise<T | undefined> {
    return this.engine.write(this.state, key, spec, ifVersion) as Promise<T | undefined>;
  }
}
