import type { Json } from '../json/types.js';
import { fail, ErrorCode } from '../errors.js';
import type { Entry, RecordMeta } from './entry.js';
import { lowerBound, mergeSorted } from './ordered-keys.js';
import type { TableState } from './table-state.js';

/** Options of `range()`: bounds are keys; `prefix` and bounds combine as an intersection. */
export interface RangeOptions {
  prefix?: string;
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  /** At most this many records. */
  limit?: number;
  /** Descending key order. */
  reverse?: boolean;
}

/** The record entries a commit replaced, as they were before it (`undefined`: absent). */
export interface Replaced {
  readonly key: string;
  readonly before: Entry | undefined;
}

/**
 * An immutable view of a table at one commit. It never changes, however the table changes later.
 *
 * Taking one costs nothing: the current snapshot reads the table's live map. When a commit
 * replaces it, it keeps that commit's mutations (what they overwrote) and a link to its successor,
 * which does the same in turn. Reading an old snapshot folds the chain into one map of the entries
 * overwritten since (so each later commit is visited once, and then dropped), and iterating one
 * builds its own key list once. A snapshot held and never read keeps the chain of every later
 * commit alive; nobody pays for history that nobody holds: an unreachable snapshot and what it
 * kept are garbage.
 */
export class Snapshot<T = Json> implements Iterable<[string, T]> {
  /** The newer snapshot that replaced this one; null while this is the table's current one. */
  private successor: Snapshot<T> | null = null;
  /** What the commit after this snapshot overwrote, until folded into `overwritten`. */
  private replaced: readonly Replaced[] | null = null;
  /** Entries as of this snapshot, for every key changed between it and `successor`. */
  private overwritten: Map<string, Entry | undefined> | null = null;
  /** Built on the first ordered read of a snapshot that is no longer current. */
  private own: { keys: string[]; entries: Map<string, Entry> } | null = null;

  /** @internal */
  constructor(
    /** @internal */ readonly state: TableState,
    /** The database `seq` of the last commit this snapshot includes. */
    readonly seq: number,
  ) {}

  /** The table's name. */
  get table(): string {
    return this.state.name;
  }

  /** @internal Called by the commit that makes `successor` current. */
  supersede(replaced: readonly Replaced[], successor: Snapshot<T>): void {
    this.replaced = replaced;
    this.successor = successor;
  }

  get(key: string): T | undefined {
    return this.entry(key)?.value as T | undefined;
  }

  has(key: string): boolean {
    return this.entry(key) !== undefined;
  }

  /** The record's metadata: created and updated times and version. */
  meta(key: string): RecordMeta | undefined {
    const entry = this.entry(key);
    return entry === undefined ? undefined : { created: entry.created, updated: entry.updated, version: entry.version };
  }

  get size(): number {
    return this.successor === null ? this.state.entries.size : this.materialize().keys.length;
  }

  keys(): IterableIterator<string> {
    return mapIterator(this.range(), (pair) => pair[0]);
  }

  values(): IterableIterator<T> {
    return mapIterator(this.range(), (pair) => pair[1]);
  }

  entries(): IterableIterator<[string, T]> {
    return this.range();
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.range();
  }

  /**
   * `[key, value]` pairs in key order (JavaScript string order), within the given bounds.
   *
   * @example
   * [...accounts.range({ prefix: 'user/', limit: 10 })];
   */
  range(options: RangeOptions = {}): IterableIterator<[string, T]> {
    checkRangeOptions(options);
    // The key list is taken now, not at the first `next()`: an iterator held across commits (a
    // snapshot sent in pages, a backup) reads the keys as of this snapshot without rebuilding them.
    const keys = this.sortedKeys();
    const [index, end] = bounds(keys, options);
    return this.iterate(keys, index, end, options);
  }

  /** @internal Fast path for the current snapshot's `get`. */
  entry(key: string): Entry | undefined {
    if (this.successor === null) return this.state.entries.get(key);
    if (this.own !== null) return this.own.entries.get(key);
    const overwritten = this.catchUp();
    return overwritten.has(key) ? overwritten.get(key) : this.state.entries.get(key);
  }

  /**
   * Walks `keys[index..end)`. The list is the table's own while this snapshot is current: later
   * commits only ever append to that array (and replace it for any other change), so the positions
   * below `end` keep naming this snapshot's keys, and `entry` reads their values as of it.
   */
  private *iterate(keys: readonly string[], index: number, end: number, options: RangeOptions): Generator<[string, T]> {
    const step = options.reverse === true ? -1 : 1;
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    for (let position = step === 1 ? index : end - 1; remaining > 0 && position >= index && position < end; position += step) {
      const key = keys[position]!;
      remaining--;
      yield [key, this.entry(key)!.value as T];
    }
  }

  private sortedKeys(): readonly string[] {
    return this.successor === null ? this.state.keys.settled() : this.materialize().keys;
  }

  /** Folds the overwritten entries of every later commit into `overwritten`, up to the current snapshot. */
  private catchUp(): Map<string, Entry | undefined> {
    let overwritten = this.overwritten;
    if (overwritten === null) {
      overwritten = new Map();
      for (const { key, before } of this.replaced!) if (!overwritten.has(key)) overwritten.set(key, before);
      this.overwritten = overwritten;
      this.replaced = null;
    }
    let next = this.successor!;
    while (next.successor !== null) {
      if (next.overwritten !== null) {
        for (const [key, before] of next.overwritten) if (!overwritten.has(key)) overwritten.set(key, before);
      } else {
        for (const { key, before } of next.replaced!) if (!overwritten.has(key)) overwritten.set(key, before);
      }
      next = next.successor;
    }
    this.successor = next;
    return overwritten;
  }

  private materialize(): { keys: string[]; entries: Map<string, Entry> } {
    if (this.own !== null) return this.own;
    const overwritten = this.catchUp();
    const current = this.state.entries;
    const keys = this.state.keys.settled().filter((key) => !overwritten.has(key) || overwritten.get(key) !== undefined);
    const gone: string[] = [];
    for (const [key, before] of overwritten) if (before !== undefined && !current.has(key)) gone.push(key);
    const all = gone.length === 0 ? keys : mergeSorted(keys, gone.sort());
    const entries = new Map<string, Entry>();
    for (const key of all) entries.set(key, (overwritten.has(key) ? overwritten.get(key) : current.get(key))!);
    this.own = { keys: all, entries };
    return this.own;
  }
}

export function bounds(keys: readonly string[], options: RangeOptions): [number, number] {
  let start = 0;
  let end = keys.length;
  const { prefix, gt, gte, lt, lte } = options;
  if (prefix !== undefined && prefix !== '') {
    start = lowerBound(keys, prefix, false);
    // Keys with the prefix are contiguous: find the first one past them.
    let low = start;
    let high = end;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (keys[middle]!.startsWith(prefix)) low = middle + 1;
      else high = middle;
    }
    end = low;
  }
  if (gt !== undefined) start = Math.max(start, lowerBound(keys, gt, true));
  if (gte !== undefined) start = Math.max(start, lowerBound(keys, gte, false));
  if (lt !== undefined) end = Math.min(end, lowerBound(keys, lt, false));
  if (lte !== undefined) end = Math.min(end, lowerBound(keys, lte, true));
  return [start, Math.max(start, end)];
}

export function checkRangeOptions(options: RangeOptions): void {
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'range() takes an options object.');
  for (const bound of ['prefix', 'gt', 'gte', 'lt', 'lte'] as const) {
    const value = options[bound];
    if (value !== undefined && typeof value !== 'string') fail(ErrorCode.INVALID_ARGUMENT, `range({ ${bound} }) must be a string key.`);
  }
  const { limit, reverse } = options;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
    fail(ErrorCode.INVALID_ARGUMENT, 'range({ limit }) must be a non-negative integer.');
  }
  if (reverse !== undefined && typeof reverse !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'range({ reverse }) must be a boolean.');
}

function* mapIterator<A, B>(source: Iterator<A>, map: (item: A) => B): Generator<B> {
  for (let next = source.next(); !next.done; next = source.next()) yield map(next.value);
}
