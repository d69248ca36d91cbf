import type { Json, JsonObject, Operation } from './types.js';
import { hasOwn, isJsonObject } from './object.js';
import { escapePointerToken } from './pointer.js';

/**
 * The RFC 6902 operations that take `previous` to `value` (paths relative to the value).
 * Subtrees shared by both sides (`===`) are skipped, so after a structurally shared write the
 * cost follows the size of the change, not of the record. A created value is one root `add`,
 * a removed one a root `remove`.
 */
export function diff(previous: Json | undefined, value: Json | undefined): Operation[] {
  const ops: Operation[] = [];
  if (previous === undefined) {
    if (value !== undefined) ops.push({ op: 'add', path: '', value });
  } else if (value === undefined) {
    ops.push({ op: 'remove', path: '' });
  } else {
    diffInto(ops, '', previous, value);
  }
  return ops;
}

function diffInto(ops: Operation[], path: string, before: Json, after: Json): void {
  if (before === after) return;
  if (isJsonObject(before) && isJsonObject(after)) {
    diffObjects(ops, path, before as JsonObject, after as JsonObject);
  } else if (Array.isArray(before) && Array.isArray(after)) {
    diffArrays(ops, path, before, after);
  } else {
    // Different scalars, or a container replaced by something of another kind.
    ops.push({ op: 'replace', path, value: after });
  }
}

function diffObjects(ops: Operation[], path: string, before: JsonObject, after: JsonObject): void {
  for (const member of Object.keys(before)) {
    if (!hasOwn(after, member)) ops.push({ op: 'remove', path: path + '/' + escapePointerToken(member) });
  }
  for (const member of Object.keys(after)) {
    const memberPath = path + '/' + escapePointerToken(member);
    if (hasOwn(before, member)) diffInto(ops, memberPath, before[member]!, after[member]!);
    else ops.push({ op: 'add', path: memberPath, value: after[member]! });
  }
}

function diffArrays(ops: Operation[], path: string, before: Json[], after: Json[]): void {
  const common = Math.min(before.length, after.length);
  for (let i = 0; i < common; i++) diffInto(ops, path + '/' + i, before[i]!, after[i]!);
  for (let i = common; i < after.length; i++) ops.push({ op: 'add', path: path + '/' + i, value: after[i]! });
  // Remove from the end, so that each index is still valid when its operation applies.
  for (let i = before.length - 1; i >= common; i--) ops.push({ op: 'remove', path: path + '/' + i });
}
