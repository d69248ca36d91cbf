/**
 * Validation of every public write argument, in one place. Each check throws an `RxkvError`
 * synchronously, before anything is queued, so bad input never reaches the pipeline.
 */
import { ErrorCode, fail } from '../errors.js';
import { MAX_DEPTH, toFrozenJson } from '../json/validate.js';
import type { Recipe, WriteSpec } from './writes.js';
import type { ChangeOp } from './change.js';
import type { ChangeFilter } from './dispatch.js';

const TABLE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_KEY_BYTES = 1024;

/** Options every write verb takes. */
export interface WriteOptions {
  /** Reject with `CONFLICT` unless the record's version (0: absent) is this one. */
  ifVersion?: number;
}

export function checkTableName(name: unknown): string {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    fail(ErrorCode.INVALID_TABLE_NAME, `Invalid table name ${describe(name)}: use 1 to 128 of A-Z a-z 0-9 _ . -`);
  }
  return name;
}

export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    fail(ErrorCode.INVALID_KEY, `Invalid key ${describe(key)}: keys are non-empty strings.`);
  }
  // A UTF-16 unit takes at most 3 bytes of UTF-8: count exactly only for long keys.
  if (key.length * 3 > MAX_KEY_BYTES && new TextEncoder().encode(key).length > MAX_KEY_BYTES) {
    fail(ErrorCode.INVALID_KEY, `Invalid key: longer than ${MAX_KEY_BYTES} bytes of UTF-8.`);
  }
  if (!key.isWellFormed()) {
    fail(ErrorCode.INVALID_KEY, 'Invalid key: it holds a lone surrogate, which has no UTF-8 encoding.');
  }
  return key;
}

export function checkWriteOptions(options: WriteOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'Write options must be an object such as { ifVersion: 3 }.');
  const { ifVersion } = options;
  if (ifVersion !== undefined && !(Number.isSafeInteger(ifVersion) && ifVersion >= 0)) {
    fail(ErrorCode.INVALID_ARGUMENT, `ifVersion must be a non-negative integer (0: the record must not exist), not ${describe(ifVersion)}.`);
  }
  return ifVersion;
}

export function mergeSpec(patch: unknown, maxBytes: number, onlyIfExists: boolean): WriteSpec {
  return { verb: 'merge', patch: toFrozenJson(patch, maxBytes, 'patch'), onlyIfExists };
}

export function putSpec(value: unknown, maxBytes: number): WriteSpec {
  return { verb: 'put', value: toFrozenJson(value, maxBytes, 'value') };
}

export const DELETE_SPEC: WriteSpec = Object.freeze({ verb: 'delete' });

/** `path`: a dot-separated string (`'counters.a'`) or an array of members (for members with dots). */
export function incrementSpec(path: unknown, by: unknown): WriteSpec {
  let members: string[];
  if (typeof path === 'string') members = path === '' ? [] : path.split('.');
  else if (Array.isArray(path) && path.every((member) => typeof member === 'string')) members = [...path];
  else fail(ErrorCode.INVALID_ARGUMENT, `increment: the path must be a string such as 'counters.a' or an array of members, not ${describe(path)}.`);
  if (members.length > MAX_DEPTH) fail(ErrorCode.INVALID_ARGUMENT, `increment: a path of ${members.length} members would nest deeper than ${MAX_DEPTH} levels.`);
  if (typeof by !== 'number' || !Number.isFinite(by)) fail(ErrorCode.INVALID_ARGUMENT, `increment: by must be a finite number, not ${describe(by)}.`);
  return { verb: 'increment', path: Object.freeze(members), by };
}

export function produceSpec(recipe: unknown): WriteSpec {
  if (typeof recipe !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'produce takes a recipe function: (draft) => { draft.n += 1 }.');
  return { verb: 'produce', recipe: recipe as Recipe };
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return `a ${typeof value}`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

const OPS: readonly ChangeOp[] = ['new', 'merge', 'delete'];
const FILTER_MEMBERS = new Set(['key', 'keys', 'prefix', 'where', 'ops', 'initial']);

export function checkChangeFilter<T>(filter: ChangeFilter<T>): ChangeFilter<T> {
  if (typeof filter !== 'object' || filter === null) {
    fail(ErrorCode.INVALID_ARGUMENT, 'changes() takes a filter object: { key, keys, prefix, where, ops, initial }.');
  }
  for (const member of Object.keys(filter)) {
    if (!FILTER_MEMBERS.has(member)) fail(ErrorCode.INVALID_ARGUMENT, `changes(): unknown filter ${describe(member)}; use key, keys, prefix, where, ops or initial.`);
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
  // A copy: the caller may change its object after subscribing.
  return { key, keys: keys === undefined ? undefined : [...keys], prefix, where, ops: ops === undefined ? undefined : [...ops], initial };
}
