/**
 * The arguments of the write verbs, checked and copied in one place. Each check throws an
 * `RxkvError` synchronously, before anything is queued, so bad input never reaches the pipeline.
 */
import { ErrorCode, fail } from '../errors.js';
import { MAX_DEPTH, toFrozenJson } from '../json/validate.js';
import type { Recipe, WriteSpec } from '../engine/writes.js';
import { describeValue } from '../model/keys.js';

/** Options every write verb takes. */
export interface WriteOptions {
  /** Reject with `CONFLICT` unless the record's version (0: absent) is this one. */
  ifVersion?: number;
}

export function checkWriteOptions(options: WriteOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'Write options must be an object such as { ifVersion: 3 }.');
  const { ifVersion } = options;
  if (ifVersion !== undefined && !(Number.isSafeInteger(ifVersion) && ifVersion >= 0)) {
    fail(ErrorCode.INVALID_ARGUMENT, `ifVersion must be a non-negative integer (0: the record must not exist), not ${describeValue(ifVersion)}.`);
  }
  return ifVersion;
}

export function mergeSpec(patch: unknown, maxBytes: number, onlyIfExists: boolean): WriteSpec {
  return { verb: 'merge', patch: toFrozenJson(patch, maxBytes, 'patch'), onlyIfExists };
}

export function putSpec(value: unknown, maxBytes: number): WriteSpec {
  return { verb: 'put', value: toFrozenJson(value, maxBytes, 'value') };
}

/** `path`: a dot-separated string (`'counters.a'`) or an array of members (for members with dots). */
export function incrementSpec(path: unknown, by: unknown): WriteSpec {
  let members: string[];
  if (typeof path === 'string') members = path === '' ? [] : path.split('.');
  else if (Array.isArray(path) && path.every((member) => typeof member === 'string')) members = [...path];
  else fail(ErrorCode.INVALID_ARGUMENT, `increment: the path must be a string such as 'counters.a' or an array of members, not ${describeValue(path)}.`);
  if (members.length > MAX_DEPTH) fail(ErrorCode.INVALID_ARGUMENT, `increment: a path of ${members.length} members would nest deeper than ${MAX_DEPTH} levels.`);
  if (typeof by !== 'number' || !Number.isFinite(by)) fail(ErrorCode.INVALID_ARGUMENT, `increment: by must be a finite number, not ${describeValue(by)}.`);
  return { verb: 'increment', path: Object.freeze(members), by };
}

export function produceSpec(recipe: unknown): WriteSpec {
  if (typeof recipe !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'produce takes a recipe function: (draft) => { draft.n += 1 }.');
  return { verb: 'produce', recipe: recipe as Recipe };
}
