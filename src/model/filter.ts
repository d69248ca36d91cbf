/** Which records a stream or a subscription covers, and which changes a subscriber receives. */
import { ErrorCode, fail } from '../errors.js';
import type { Json } from '../json/types.js';
import type { Change, ChangeOp } from './change.js';
import { checkKey, describeValue } from './keys.js';
import { keysOf } from './ordered-records.js';
import type { RangeOptions } from './range.js';

/** The records of a table a filter selects by key: one key, some keys, a key prefix, or (none of them) all. */
export interface KeyFilter {
  readonly key?: string;
  readonly keys?: readonly string[];
  readonly prefix?: string;
}

/** Which changes a subscriber receives; every condition given must hold. */
export interface ChangeFilter<T = Json> {
  /** Only the changes of this record. */
  key?: string;
  /** Only the changes of these records. */
  keys?: readonly string[];
  /** Only the changes of records whose key starts with this. */
  prefix?: string;
  /** Only changes of records that match before or after the change. */
  where?: (value: T, key: string) => boolean;
  /** Only these kinds of change. */
  ops?: readonly ChangeOp[];
  /** Begin with the current matching records, as `'new'` changes, then the live ones. */
  initial?: boolean;
}

/** Whether a filter that names at most one of key, keys and prefix covers a key (`keys`: its keys as a set). */
export function covers(filter: KeyFilter, keys: ReadonlySet<string> | undefined, key: string): boolean {
  if (filter.key !== undefined) return key === filter.key;
  if (keys !== undefined) return keys.has(key);
  return filter.prefix === undefined || key.startsWith(filter.prefix);
}

/**
 * Whether a change passes a filter: every condition given must hold (`keys`: the filter's keys as
 * a set, when the caller keeps one). Local subscriptions and `rxkv/client` streams both use it.
 */
export function accepts(filter: ChangeFilter, change: Change, keys?: ReadonlySet<string>): boolean {
  const key = change.key;
  if (filter.key !== undefined && key !== filter.key) return false;
  if (filter.keys !== undefined && !(keys ?? new Set(filter.keys)).has(key)) return false;
  if (filter.prefix !== undefined && !key.startsWith(filter.prefix)) return false;
  if (filter.ops !== undefined && !filter.ops.includes(change.op)) return false;
  const where = filter.where;
  if (where !== undefined) {
    return (change.previous !== undefined && where(change.previous, key)) || (change.value !== undefined && where(change.value, key));
  }
  return true;
}

/**
 * The keys a filter's key, keys or prefix narrow a walk of `records` to, in key order (some may
 * be absent: the caller reads each); all keys when it names none. The other conditions are the
 * caller's to check.
 */
export function selectedKeys(filter: KeyFilter, records: { keys(): Iterable<string>; range(options: RangeOptions): Iterable<readonly [string, unknown]> }): Iterable<string> {
  if (filter.key !== undefined) return [filter.key];
  if (filter.keys !== undefined) return [...new Set(filter.keys)].sort();
  if (filter.prefix !== undefined) return keysOf(records.range({ prefix: filter.prefix }));
  return records.keys();
}

const OPS: readonly ChangeOp[] = ['new', 'merge', 'delete'];
const FILTER_MEMBERS = new Set(['key', 'keys', 'prefix', 'where', 'ops', 'initial']);

/** Checks a `changes()` filter and returns a copy: the caller may change its object after subscribing. */
export function checkChangeFilter<T>(filter: ChangeFilter<T>): ChangeFilter<T> {
  if (typeof filter !== 'object' || filter === null) {
    fail(ErrorCode.INVALID_ARGUMENT, 'changes() takes a filter object: { key, keys, prefix, where, ops, initial }.');
  }
  for (const member of Object.keys(filter)) {
    if (!FILTER_MEMBERS.has(member)) fail(ErrorCode.INVALID_ARGUMENT, `changes(): unknown filter ${describeValue(member)}; use key, keys, prefix, where, ops or initial.`);
  }
  const { key, keys, prefix, where, ops, initial } = filter;
  if (key !== undefined) checkKey(key);
  if (keys !== undefined) {
    if (!Array.isArray(keys)) fail(ErrorCode.INVALID_ARGUMENT, 'changes({ keys }) takes an array of keys.');
    for (const each of keys) checkKey(each);
  }
  if (prefix !== undefined && typeof prefix !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'changes({ prefix }) takes a string.');
  if (where !== undefined && typeof where !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'changes({ where }) takes a function (value, key) => boolean.');
  if (ops !== undefined && !(Array.isArray(ops) && ops.every((op) => OPS.includes(op)))) {
    fail(ErrorCode.INVALID_ARGUMENT, "changes({ ops }) takes an array of 'new', 'merge' and 'delete'.");
  }
  if (initial !== undefined && typeof initial !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'changes({ initial }) takes a boolean.');
  return { key, keys: keys === undefined ? undefined : [...keys], prefix, where, ops: ops === undefined ? undefined : [...ops], initial };
}
