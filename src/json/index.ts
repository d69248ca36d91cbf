/**
 * `rxkv/json`: the JSON primitives rxkv is built on, usable anywhere (browser or Node).
 *
 * @example
 * import { mergePatch, diff } from 'rxkv/json';
 * const next = mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }); // { a: 1, b: { d: 3 } }
 * diff({ a: 1 }, { a: 2 }); // [{ op: 'replace', path: '/a', value: 2 }]
 * applyPatch(change.previous, change.patch); // the change's value, sharing what the patch leaves alone
 */
export type { Json, JsonObject, MergePatch, Operation } from './types.js';
export { diff } from './diff.js';
export { jsonEqual } from './equal.js';
export { escapePointerToken, toPointer } from './pointer.js';
export { MAX_DEPTH, assertJson, toFrozenJson } from './validate.js';
export { RxkvError, ErrorCode } from '../errors.js';
import { ErrorCode, RxkvError } from '../errors.js';
import { mergePatch as merge } from './merge.js';
import { applyPatch as apply } from './patch.js';
import { assertJson, toFrozenJson } from './validate.js';
import type { Json, Operation } from './types.js';

/**
 * RFC 7396 JSON Merge Patch of `patch` onto `target`. The objects it creates are frozen; every
 * unchanged subtree is shared with `target`, and when nothing changes `target` itself is returned.
 * Both inputs must be plain JSON, or an `RxkvError` (`INVALID_VALUE`) is thrown.
 */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (target !== undefined) assertJson(target, undefined, 'target');
  return merge(target, toFrozenJson(patch, Number.POSITIVE_INFINITY, 'patch'));
}

/**
 * Applies the RFC 6902 operations rxkv emits (`add`, `remove`, `replace`; a change's `patch`) to
 * `previous`, which is left as it was: only the containers on the operations' paths are copied,
 * the rest of the result is shared with `previous`, and what is new is frozen (copies of the
 * patch's values: the caller's stay as they were). Throws an `RxkvError`: `INVALID_VALUE` when
 * `previous` or a value is not plain JSON, `INVALID_ARGUMENT` when `patch` is not a list of such
 * operations or one does not apply (a path that is not there).
 */
export function applyPatch(previous: Json | undefined, patch: readonly Operation[]): Json | undefined {
  if (previous !== undefined) assertJson(previous, undefined, 'previous');
  if (!Array.isArray(patch)) throw new RxkvError(ErrorCode.INVALID_ARGUMENT, 'applyPatch: the patch must be an array of operations.');
  const operations = patch.map((operation: unknown, i): Operation => {
    const { op, path, value } = (typeof operation === 'object' && operation !== null ? operation : {}) as Record<string, unknown>;
    if ((op !== 'add' && op !== 'remove' && op !== 'replace') || typeof path !== 'string') {
      throw new RxkvError(ErrorCode.INVALID_ARGUMENT, `applyPatch: operation ${i} must be { op: 'add' | 'remove' | 'replace', path, value }.`);
    }
    if (op === 'remove') return { op, path };
    if (value === undefined) throw new RxkvError(ErrorCode.INVALID_ARGUMENT, `applyPatch: operation ${i} (${op}) needs a value.`);
    return { op, path, value: toFrozenJson(value, Number.POSITIVE_INFINITY, `operation ${i}'s value`) };
  });
  return apply(previous, operations);
}
