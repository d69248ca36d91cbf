import type { Json } from '../json/types.js';
import { ErrorCode, fail } from '../errors.js';
import { isIndexValue, type IndexValue, type SecondaryIndex } from '../engine/secondary-index.js';
import type { TableSource } from '../engine/table-state.js';
import type { Snapshot } from '../engine/snapshot.js';
import { describeValue } from '../model/keys.js';

/** Bounds over index values; `prefix` selects string values. */
export interface IndexRangeOptions {
  prefix?: string;
  gt?: IndexValue;
  gte?: IndexValue;
  lt?: IndexValue;
  lte?: IndexValue;
  /** At most this many records. */
  limit?: number;
  /** Descending index order. */
  reverse?: boolean;
}

/**
 * A secondary index of a table, read over the committed state: records by index value, the
 * distinct values, and ranges of values. Index values order booleans, then numbers, then strings.
 *
 * @example
 * const people = db.table('people', { indexes: { byCity: 'profile.city' } });
 * people.index('byCity').get('Oslo'); // [[key, record], ...]
 */
export class TableIndex<T = Json> {
  /** @internal */
  constructor(
    private readonly state: TableSource,
    private readonly index: SecondaryIndex,
  ) {}

  get name(): string {
    return this.index.name;
  }

  /** The records indexed under `value`, as `[key, record]` pairs in key order. */
  get(value: IndexValue): [string, T][] {
    checkIndexValue(value, 'get');
    return this.index.lookup(value).map((key) => [key, this.state.entry(key)!.value as T]);
  }

  /** The distinct index values, in order. */
  keys(): IndexValue[] {
    return [...this.index.values()];
  }

  /**
   * `[key, record]` pairs whose index value lies within bounds, in index order then key order,
   * as of the call (later commits do not show in an iteration under way).
   */
  range(options: IndexRangeOptions = {}): IterableIterator<[string, T]> {
    if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'range() takes an options object.');
    for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) if (options[bound] !== undefined) checkIndexValue(options[bound], `range({ ${bound} })`);
    if (options.prefix !== undefined && typeof options.prefix !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'range({ prefix }) takes a string.');
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 0))) {
      fail(ErrorCode.INVALID_ARGUMENT, 'range({ limit }) must be a non-negative integer.');
    }
    const keys: string[] = [];
    const seen = new Set<string>(); // a record indexed under several values shows once
    for (const value of this.index.valuesIn(options)) {
      const matching = this.index.lookup(value);
      if (options.reverse === true) matching.reverse();
      for (const key of matching) {
        if (keys.length >= limit) break;
        if (!seen.has(key)) seen.add(key), keys.push(key);
      }
    }
    return pairsOf(keys, this.state.head as Snapshot<T>);
  }
}

function* pairsOf<T>(keys: readonly string[], snapshot: Snapshot<T>): Generator<[string, T]> {
  for (const key of keys) yield [key, snapshot.get(key)!];
}

export function checkIndexValue(value: unknown, where: string): asserts value is IndexValue {
  if (!isIndexValue(value)) fail(ErrorCode.INVALID_ARGUMENT, `${where}: index values are strings, numbers or booleans, not ${describeValue(value)}.`);
}
