import type { Json } from '../json/types.js';
import { hasOwn, isJsonObject } from '../json/object.js';

/** What an index maps records by: JSON scalars (null and absent members are not indexed). */
export type IndexValue = string | number | boolean;

/** A JSON path (`'profile.city'`) or a function of the record returning one value or several. */
export type IndexDefinition<T = Json> =
  | string
  | ((value: T, key: string) => IndexValue | readonly IndexValue[] | null | undefined);

/** Index values in order: booleans, then numbers, then strings. */
export function compareIndexValues(a: IndexValue, b: IndexValue): number {
  const ta = RANK[typeof a as keyof typeof RANK];
  const tb = RANK[typeof b as keyof typeof RANK];
  if (ta !== tb) return ta - tb;
  return a < b ? -1 : a > b ? 1 : 0;
}
const RANK = { boolean: 0, number: 1, string: 2 };

export function isIndexValue(value: unknown): value is IndexValue {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * A secondary index of one table: index value -> keys of the records that have it. It remembers
 * what each record was indexed under, so that removing a record never depends on calling the
 * user's function again. Maintained when a commit is published, so it reads committed state.
 */
export class SecondaryIndex {
  private readonly extract: (value: Json, key: string) => unknown;
  private readonly byValue = new Map<IndexValue, Set<string>>();
  /** What each record is indexed under: one value, or several. */
  private readonly indexed = new Map<string, IndexValue | IndexValue[]>();
  /** The distinct values in order, rebuilt on the first ordered read after a value came or went. */
  private sorted: IndexValue[] | null = [];

  constructor(
    readonly name: string,
    readonly definition: IndexDefinition,
  ) {
    this.extract = typeof definition === 'string' ? pathReader(definition) : (definition as (value: Json, key: string) => unknown);
  }

  /** Re-indexes a record; throws what the user's function threw (the record is then left out). */
  update(key: string, value: Json | undefined): void {
    const old = this.indexed.get(key);
    if (old !== undefined) {
      this.indexed.delete(key);
      for (const each of Array.isArray(old) ? old : [old]) this.unlink(each, key);
    }
    if (value === undefined) return;
    const values = normalize(this.extract(value, key));
    if (values.length === 0) return;
    this.indexed.set(key, values.length === 1 ? values[0]! : values);
    for (const each of values) this.link(each, key);
  }

  /** Keys of the records indexed under `value`, in key order. */
  lookup(value: IndexValue): string[] {
    const keys = this.byValue.get(value);
    return keys === undefined ? [] : [...keys].sort();
  }

  /** The distinct index values, in order. */
  values(): readonly IndexValue[] {
    return (this.sorted ??= [...this.byValue.keys()].sort(compareIndexValues));
  }

  /** The distinct values within bounds, in order (or reversed). */
  valuesIn(range: { gt?: IndexValue; gte?: IndexValue; lt?: IndexValue; lte?: IndexValue; prefix?: string; reverse?: boolean }): IndexValue[] {
    const all = this.values();
    let from = 0;
    let to = all.length;
    if (range.gt !== undefined) from = Math.max(from, firstIndex(all, range.gt, true));
    if (range.gte !== undefined) from = Math.max(from, firstIndex(all, range.gte, false));
    if (range.lt !== undefined) to = Math.min(to, firstIndex(all, range.lt, false));
    if (range.lte !== undefined) to = Math.min(to, firstIndex(all, range.lte, true));
    let selected = all.slice(from, Math.max(from, to));
    if (range.prefix !== undefined) selected = selected.filter((value) => typeof value === 'string' && value.startsWith(range.prefix!));
    return range.reverse === true ? selected.reverse() : selected;
  }

  /** What a record's value would be indexed under (for queries); throws what the function threw. */
  valuesOf(value: Json, key: string): IndexValue[] {
    return normalize(this.extract(value, key));
  }

  private link(value: IndexValue, key: string): void {
    const keys = this.byValue.get(value);
    if (keys !== undefined) keys.add(key);
    else {
      this.byValue.set(value, new Set([key]));
      this.sorted = null;
    }
  }

  private unlink(value: IndexValue, key: string): void {
    const keys = this.byValue.get(value);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) {
      this.byValue.delete(value);
      this.sorted = null;
    }
  }
}

/** One value or several, scalars only, without duplicates. */
function normalize(result: unknown): IndexValue[] {
  if (isIndexValue(result)) return [result];
  if (!Array.isArray(result)) return [];
  const values: IndexValue[] = [];
  for (const each of result) if (isIndexValue(each) && !values.includes(each)) values.push(each);
  return values;
}

function pathReader(path: string): (value: Json) => unknown {
  const members = path.split('.');
  return (value) => {
    let node: unknown = value;
    for (const member of members) {
      if (!isJsonObject(node) || !hasOwn(node, member)) return undefined;
      node = node[member];
    }
    return node;
  };
}

/** The first position whose value is `>= bound` (or `> bound` when `exclusive`). */
function firstIndex(values: readonly IndexValue[], bound: IndexValue, exclusive: boolean): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const order = compareIndexValues(values[middle]!, bound);
    if (order < 0 || (exclusive && order === 0)) low = middle + 1;
    else high = middle;
  }
  return low;
}
