import { Observable } from 'rxjs';
import type { Json, MergePatch } from './json/types.js';
import type { Change } from './engine/change.js';
import type { RecordMeta } from './engine/entry.js';
import { MultiWriteIntent, WriteIntent, captureSettlers, settlers } from './engine/intent.js';
import type { Snapshot, RangeOptions } from './engine/snapshot.js';
import type { StateSubject, TableState } from './engine/table-state.js';
import type { Recipe, WriteSpec } from './engine/writes.js';
import {
  DELETE_SPEC,
  checkChangeFilter,
  checkKey,
  checkWriteOptions,
  describe,
  incrementSpec,
  mergeSpec,
  produceSpec,
  putSpec,
  type WriteOptions,
} from './engine/arguments.js';
import type { DatabaseCore } from './database-core.js';
import { ErrorCode, fail } from './errors.js';
import { Query, type QueryResult, type QuerySpec } from './query.js';
import { TableIndex } from './table-index.js';
import type { ChangeFilter } from './engine/dispatch.js';

/**
 * A table of JSON records, read from memory and written through the database's pipeline.
 * Reads see committed state only. Every write returns a promise that resolves, once the write
 * is durable, with the resulting record; invalid arguments throw an `RxkvError` at once.
 */
export class Table<T = Json> {
  /** The committed records, held here too so that `get` is one hop from a `Map.get`. */
  private readonly records: TableState['entries'];

  /** @internal */
  constructor(
    private readonly core: DatabaseCore,
    private readonly state: TableState,
  ) {
    this.records = state.entries;
  }

  get name(): string {
    return this.state.name;
  }

  // ---- reads: the committed state ----

  get(key: string): T | undefined {
    return this.records.get(key)?.value as T | undefined;
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  get size(): number {
    return this.records.size;
  }

  /** Created and updated times and version (the `seq` of its last write) of a record. */
  meta(key: string): RecordMeta | undefined {
    return this.state.head.meta(key);
  }

  keys(): IterableIterator<string> {
    return this.snapshot().keys();
  }

  values(): IterableIterator<T> {
    return this.snapshot().values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.snapshot().entries();
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.snapshot().entries();
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
    return this.state.dispatcher.observe(checkChangeFilter(filter) as ChangeFilter, this.state.initial) as Observable<Change<T>>;
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
      subscriber.next(state.entries.get(key)?.value as T | undefined);
      return state.dispatcher
        .observe({ key }, state.initial, state.head.seq)
        .subscribe({ next: (change) => subscriber.next(change.value as T | undefined), complete: () => subscriber.complete() });
    });
  }

  /** A secondary index declared with `db.table(name, { indexes })`. */
  index(name: string): TableIndex<T> {
    const index = this.state.indexes.get(name);
    if (index === undefined) fail(ErrorCode.INVALID_ARGUMENT, `Table ${this.name} has no index ${describe(name)}: declare it in db.table(name, { indexes }).`);
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
    return this.submit(key, mergeSpec(patch, this.core.maxValueBytes, false), ifVersion) as Promise<T>;
  }

  /** Like `merge`, but only if the record exists; otherwise resolves `undefined` and writes nothing. */
  update(key: string, patch: MergePatch<T>, options?: WriteOptions): Promise<T | undefined> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, mergeSpec(patch, this.core.maxValueBytes, true), ifVersion);
  }

  /** Replaces the whole value. */
  put(key: string, value: T, options?: WriteOptions): Promise<T> {
    const ifVersion = this.begin(key, options);
    return this.submit(key, putSpec(value, this.core.maxValueBytes), ifVersion) as Promise<T>;
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
    this.core.checkOpen();
    const state = this.state;
    return new Promise((resolve, reject) => {
      this.core.pipeline.submit(new MultiWriteIntent(resolve as (result: never) => void, reject, (writer) => writer.clear(state)));
    });
  }

  /** The checks every write makes first, in this order: open, key, options. Returns `ifVersion`. */
  private begin(key: string, options: WriteOptions | undefined): number | undefined {
    this.core.checkOpen();
    checkKey(key);
    return checkWriteOptions(options);
  }

  private submit(key: string, spec: WriteSpec, ifVersion: number | undefined): Promise<T | undefined> {
    const promise = new Promise<T | undefined>(captureSettlers as never);
    this.core.pipeline.submit(new WriteIntent(settlers.resolve, settlers.reject, this.state, key, spec, ifVersion));
    return promise;
  }
}
