import { Observable } from 'rxjs';
import type { Json } from '../json/types.js';
import { ErrorCode, fail } from '../errors.js';
import type { IndexValue, SecondaryIndex } from '../engine/secondary-index.js';
import { compareIndexValues } from '../engine/secondary-index.js';
import type { TableSource } from '../engine/table-state.js';
import { keysOf } from '../model/ordered-records.js';
import { checkIndexValue } from './table-index.js';

/** One row of a query's result: a record's key and value. */
export type Row<T> = readonly [key: string, value: T];

/**
 * What a query selects and how it orders it. `range` bounds the values of `index` when one is
 * named, the record keys otherwise; `where` filters what is left; rows go in `sort` order (ties
 * and the default: key order), at most `limit` of them.
 */
export interface QuerySpec<T = Json> {
  where?: (value: T, key: string) => boolean;
  index?: string;
  range?: { prefix?: string; gt?: IndexValue; gte?: IndexValue; lt?: IndexValue; lte?: IndexValue };
  sort?: (a: T, b: T) => number;
  limit?: number;
}

/**
 * A query's result now, as an array of `[key, value]` rows, and `live()`: the same query as an
 * Observable of results, kept up to date incrementally.
 */
export class QueryResult<T = Json> extends Array<Row<T>> {
  /** Array methods (`map`, `filter`, ...) return plain arrays. */
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }

  /** @internal */
  declare readonly query: Query<T>;

  /**
   * The result now, then each time it changes: when a record enters it, leaves it, moves in it,
   * or a record in it changes. A commit's changes are folded into one emission. An error of
   * `where` or `sort` goes to this subscriber.
   *
   * @example
   * people.query({ index: 'byCity', range: { gte: 'Oslo', lte: 'Oslo' }, limit: 10 }).live().subscribe(render);
   */
  live(): Observable<readonly Row<T>[]> {
    return this.query.live();
  }
}

/** @internal A query over one table, and the incremental upkeep of its live results. */
export class Query<T = Json> {
  private readonly index: SecondaryIndex | undefined;

  constructor(
    private readonly state: TableSource,
    private readonly spec: QuerySpec<T>,
  ) {
    checkSpec(spec);
    if (spec.index !== undefined) {
      this.index = state.index(spec.index);
      if (this.index === undefined) fail(ErrorCode.INVALID_ARGUMENT, `Table ${state.name} has no index ${spec.index}: declare it in db.table(name, { indexes }).`);
    }
  }

  /** The result now. */
  run(): QueryResult<T> {
    const result = new QueryResult<T>();
    Object.defineProperty(result, 'query', { value: this });
    for (const row of this.visible(this.rows())) result.push(row);
    return Object.freeze(result);
  }

  live(): Observable<readonly Row<T>[]> {
    const state = this.state;
    return new Observable<readonly Row<T>[]>((subscriber) => {
      let rows: Row<T>[];
      try {
        rows = this.rows();
      } catch (error) {
        subscriber.error(error);
        return;
      }
      const rowOf = new Map(rows.map((row) => [row[0], row]));
      let shown = this.visible(rows);
      subscriber.next(shown);
      let scheduled = false;
      const emit = () => {
        scheduled = false;
        if (subscriber.closed) return;
        const next = this.visible(rows);
        if (!sameRows(next, shown)) subscriber.next((shown = next));
      };
      // Changes already in `rows` (subscribing in the middle of a commit's delivery) are skipped.
      return state.changes({}, state.head.seq).subscribe({
        next: (change) => {
          try {
            const { key } = change;
            const old = rowOf.get(key);
            const value = change.value as T | undefined;
            const enters = value !== undefined && this.matches(key, value);
            if (old === undefined && !enters) return;
            if (old !== undefined) {
              rows.splice(this.positionOf(rows, old), 1);
              rowOf.delete(key);
            }
            if (enters) {
              const row: Row<T> = Object.freeze([key, value] as const);
              rows.splice(this.insertionPoint(rows, row), 0, row);
              rowOf.set(key, row);
            }
            if (!scheduled) {
              scheduled = true;
              queueMicrotask(emit); // once per commit, after all its changes
            }
          } catch (error) {
            subscriber.error(error);
          }
        },
        complete: () => subscriber.complete(),
      });
    });
  }

  /** Every matching row, in order. */
  private rows(): Row<T>[] {
    const rows: Row<T>[] = [];
    for (const key of this.candidates()) {
      const value = this.state.entry(key)!.value as T;
      if (this.matches(key, value)) rows.push(Object.freeze([key, value] as const));
    }
    return rows.sort(this.compare);
  }

  private candidates(): Iterable<string> {
    const range = this.spec.range ?? {};
    if (this.index !== undefined) {
      const keys = new Set<string>();
      for (const value of this.index.valuesIn(range)) for (const key of this.index.lookup(value)) keys.add(key);
      return keys;
    }
    const { prefix, gt, gte, lt, lte } = range as { prefix?: string; gt?: string; gte?: string; lt?: string; lte?: string };
    return keysOf(this.state.head.range({ prefix, gt, gte, lt, lte }));
  }

  private matches(key: string, value: T): boolean {
    if (this.index !== undefined) {
      if (!this.indexValues(value, key).some((each) => this.inIndexRange(each))) return false;
    } else if (!this.inKeyRange(key)) {
      return false;
    }
    return this.spec.where === undefined || this.spec.where(value, key);
  }

  /** A record whose index function throws is not in the index (reported as INDEX_FAILED), nor here. */
  private indexValues(value: T, key: string): IndexValue[] {
    try {
      return this.index!.valuesOf(value as Json, key);
    } catch {
      return [];
    }
  }

  private inKeyRange(key: string): boolean {
    const { prefix, gt, gte, lt, lte } = this.spec.range ?? {};
    return (
      (prefix === undefined || key.startsWith(prefix)) &&
      (gt === undefined || key > (gt as string)) &&
      (gte === undefined || key >= (gte as string)) &&
      (lt === undefined || key < (lt as string)) &&
      (lte === undefined || key <= (lte as string))
    );
  }

  private inIndexRange(value: IndexValue): boolean {
    const { prefix, gt, gte, lt, lte } = this.spec.range ?? {};
    return (
      (prefix === undefined || (typeof value === 'string' && value.startsWith(prefix))) &&
      (gt === undefined || compareIndexValues(value, gt) > 0) &&
      (gte === undefined || compareIndexValues(value, gte) >= 0) &&
      (lt === undefined || compareIndexValues(value, lt) < 0) &&
      (lte === undefined || compareIndexValues(value, lte) <= 0)
    );
  }

  private readonly compare = (a: Row<T>, b: Row<T>): number => {
    const order = this.spec.sort === undefined ? 0 : this.spec.sort(a[1], b[1]);
    if (order !== 0) return order;
    return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
  };

  private insertionPoint(rows: readonly Row<T>[], row: Row<T>): number {
    let low = 0;
    let high = rows.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compare(rows[middle]!, row) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private positionOf(rows: readonly Row<T>[], row: Row<T>): number {
    const at = this.insertionPoint(rows, row);
    if (rows[at] === row) return at;
    return rows.indexOf(row); // an inconsistent user comparator: fall back to a scan
  }

  private visible(rows: readonly Row<T>[]): readonly Row<T>[] {
    return Object.freeze(this.spec.limit === undefined ? rows.slice() : rows.slice(0, this.spec.limit));
  }
}

function sameRows<T>(a: readonly Row<T>[], b: readonly Row<T>[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const SPEC_MEMBERS = new Set(['where', 'index', 'range', 'sort', 'limit']);

function checkSpec(spec: QuerySpec<never>): void {
  if (typeof spec !== 'object' || spec === null) fail(ErrorCode.INVALID_ARGUMENT, 'query() takes { where, index, range, sort, limit }.');
  for (const member of Object.keys(spec)) {
    if (!SPEC_MEMBERS.has(member)) fail(ErrorCode.INVALID_ARGUMENT, `query(): unknown member ${member}; use where, index, range, sort or limit.`);
  }
  const { where, index, range, sort, limit } = spec;
  if (where !== undefined && typeof where !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'query({ where }) takes a function (value, key) => boolean.');
  if (sort !== undefined && typeof sort !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'query({ sort }) takes a comparator (a, b) => number.');
  if (index !== undefined && typeof index !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'query({ index }) takes an index name.');
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) fail(ErrorCode.INVALID_ARGUMENT, 'query({ limit }) must be a non-negative integer.');
  if (range !== undefined) {
    if (typeof range !== 'object' || range === null) fail(ErrorCode.INVALID_ARGUMENT, 'query({ range }) takes { prefix, gt, gte, lt, lte }.');
    for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
      const value = range[bound];
      if (value === undefined) continue;
      if (index === undefined && typeof value !== 'string') fail(ErrorCode.INVALID_ARGUMENT, `query({ range: { ${bound} } }) bounds keys: it takes a string.`);
      checkIndexValue(value, `query({ range: { ${bound} } })`);
    }
    if (range.prefix !== undefined && typeof range.prefix !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'query({ range: { prefix } }) takes a string.');
  }
}
