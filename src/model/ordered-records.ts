import type { Json } from '../json/types.js';
import type { RangeOptions } from './range.js';

/**
 * Records read in key order: everything a table, a snapshot or a replica lists (keys, values,
 * entries, iteration) is its `range()`, so that they all order and bound keys the same way.
 */
export abstract class OrderedRecords<T = Json> implements Iterable<[string, T]> {
  /** `[key, value]` pairs in key order (JavaScript string order), within bounds. */
  abstract range(options?: RangeOptions): IterableIterator<[string, T]>;

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
}

/** The keys of `[key, value]` pairs. */
export function keysOf(pairs: Iterable<readonly [string, unknown]>): IterableIterator<string> {
  return mapIterator(pairs[Symbol.iterator](), (pair) => pair[0]);
}

function* mapIterator<A, B>(source: Iterator<A>, map: (item: A) => B): Generator<B> {
  for (let next = source.next(); !next.done; next = source.next()) yield map(next.value);
}
