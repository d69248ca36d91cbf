import type { Json } from '../json/types.js';
import { OrderedRecords } from '../model/ordered-records.js';
import { bounds, checkRangeOptions, type RangeOptions } from '../model/range.js';
import type { Entry, RecordMeta } from '../model/record.js';
import { mergeSorted } from './ordered-keys.js';
import type { TableState } from './table-state.js';

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
export class Snapshot<T = Json> extends OrderedRecords<T> {
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
  ) {
    super();
  }

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
    return this.successor === null ? this.state.keys.sorted() : this.materialize().keys;
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
    const keys = this.state.keys.sorted().filter((key) => !overwritten.has(key) || overwritten.get(key) !== undefined);
    const gone: string[] = [];
    for (const [key, before] of overwritten) if (before !== undefined && !current.has(key)) gone.push(key);
    const all = gone.length === 0 ? keys : mergeSorted(keys, gone.sort());
    const entries = new Map<string, Entry>();
    for (const key of all) entries.set(key, (overwritten.has(key) ? overwritten.get(key) : current.get(key))!);
    this.own = { keys: all, entries };
    return this.own;
  }
}
