import type { Change, ChangeOp } from '../engine/change.js';
import { diff } from '../json/diff.js';
import type { Operation } from '../json/types.js';
import type { ServerMessage } from '../sync/protocol.js';

/** A change that is sent once to every connection that wants it: serialized once. */
const serialized = new WeakMap<Change, string>();

export function changeJson(change: Change): string {
  let json = serialized.get(change);
  if (json === undefined) {
    json = wireChange(change, change.op, change.patch);
    serialized.set(change, json);
  }
  return json;
}

/** Several changes of one record, sent to a client that fell behind as one change. */
export interface Squashed {
  readonly first: Change;
  last: Change;
}

export function squashedJson({ first, last }: Squashed): string {
  const op = last.value === undefined ? 'delete' : first.previous === undefined ? 'new' : 'merge';
  return wireChange(last, op, diff(first.previous, last.value));
}

export function changesMessage(changes: readonly string[]): string {
  return `{"type":"changes","changes":[${changes.join(',')}]}`;
}

export function message(value: ServerMessage): string {
  return JSON.stringify(value);
}

function wireChange(change: Change, op: ChangeOp, patch: readonly Operation[]): string {
  const { table, key, seq, ts, value } = change;
  return JSON.stringify({ table, key, op, seq, ts, patch: reachesPrototype(patch) ? [{ op: 'replace', path: '', value }] : patch });
}

/**
 * Whether a patch names a member JSON Patch libraries refuse to touch (`fast-json-patch` throws on
 * `__proto__` and `constructor/prototype`, guarding against prototype pollution). Such a record is
 * sent whole instead: a root replace, which the client takes as the new value.
 */
function reachesPrototype(patch: readonly Operation[]): boolean {
  for (const { path } of patch) {
    if (path.includes('/__proto__') || path.includes('/constructor/prototype')) return true;
  }
  return false;
}
