import type { Json, JsonObject } from './types.js';
import { jsonEqual } from './equal.js';
import { hasOwn, isJsonObject, setMember } from './object.js';

const EMPTY: JsonObject = Object.freeze({}) as JsonObject;

/**
 * RFC 7396 JSON Merge Patch, to the letter: objects merge member by member, `null` removes a
 * member, arrays and scalars replace; an object patch onto a non-object starts from `{}`.
 *
 * `target` and `patch` must be frozen JSON. The result is frozen and shares every unchanged
 * subtree with `target`; when nothing changes, `target` itself is returned (so `result ===
 * target` is the no-op test, as with Immer).
 */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isJsonObject(patch)) {
    // A replacing array that deep-equals the old one is no change: keep the old reference.
    return target !== undefined && typeof patch === 'object' && jsonEqual(target, patch) ? target : patch;
  }
  return isJsonObject(target) ? mergeObject(target as JsonObject, patch as JsonObject) : mergeObject(EMPTY, patch as JsonObject);
}

function mergeObject(target: JsonObject, patch: JsonObject): JsonObject {
  let out: JsonObject | undefined;
  let removed: string[] | undefined;
  // for-in: no key array to allocate (a patch is a frozen plain object of our own making).
  for (const member in patch) {
    if (!hasOwn(patch, member)) continue;
    const change = patch[member]!;
    const present = hasOwn(target, member);
    if (change === null) {
      if (present) (removed ??= []).push(member);
      continue;
    }
    const before = present ? target[member] : undefined;
    const after = mergePatch(before, change);
    if (present && after === before) continue;
    out ??= { ...target };
    setMember(out, member, after);
  }
  if (removed !== undefined) out = without(out ?? target, removed);
  if (out === undefined) return target === EMPTY ? Object.freeze({}) : target;
  return Object.freeze(out);
}

/** A copy without some members; built anew because `delete` would slow every later read. */
function without(object: JsonObject, members: string[]): JsonObject {
  const out: JsonObject = {};
  for (const member of Object.keys(object)) {
    if (!members.includes(member)) setMember(out, member, object[member]!);
  }
  return out;
}
