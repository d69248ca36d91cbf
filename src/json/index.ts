/**
 * `rxkv/json`: the JSON primitives rxkv is built on, usable anywhere (browser or Node).
 *
 * @example
 * import { mergePatch, diff } from 'rxkv/json';
 * const next = mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }); // { a: 1, b: { d: 3 } }
 * diff({ a: 1 }, { a: 2 }); // [{ op: 'replace', path: '/a', value: 2 }]
 * applyPatch({ a: 1 }, change.patch); // a change's patch applied to your copy, sharing what it leaves alone
 */
export type { Json, JsonObject, MergePatch, Operation } from './types.js';
export { diff } from './diff.js';
export { applyPatch } from './patch.js';
export { jsonEqual } from './equal.js';
export { escapePointerToken, toPointer } from './pointer.js';
export { MAX_DEPTH, assertJson, toFrozenJson } from './validate.js';
export { RxkvError, ErrorCode } from '../errors.js';
import { mergePatch as merge } from './merge.js';
import { assertJson, toFrozenJson } from './validate.js';
import type { Json } from './types.js';

/**
 * RFC 7396 JSON Merge Patch of `patch` onto `target`. The objects it creates are frozen; every
 * unchanged subtree is shared with `target`, and when nothing changes `target` itself is returned.
 * Both inputs must be plain JSON, or an `RxkvError` (`INVALID_VALUE`) is thrown.
 */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (target !== undefined) assertJson(target, undefined, 'target');
  return merge(target, toFrozenJson(patch, Number.POSITIVE_INFINITY, 'patch'));
}
