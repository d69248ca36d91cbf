/** Key ranges: the bounds every ordered read takes, and finding them in a sorted key list. */
import { ErrorCode, fail } from '../errors.js';

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

/** The positions [start, end) of the keys within bounds, in a sorted list of keys. */
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

/** The first index whose key is `>= key` (or `> key` when `exclusive`). */
export function lowerBound(keys: readonly string[], key: string, exclusive: boolean): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const probe = keys[middle]!;
    if (probe < key || (exclusive && probe === key)) low = middle + 1;
    else high = middle;
  }
  return low;
}
