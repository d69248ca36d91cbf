import { ErrorCode, RxkvError } from '../errors.js';
import { deepFreeze } from './freeze.js';
import type { Json, Operation } from './types.js';
import { hasOwn, setMember } from './object.js';

/** An array index token of RFC 6901: `0`, or digits without a leading zero. */
const INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Applies rxkv's RFC 6902 operations (`add`, `remove`, `replace`) to an immutable value without
 * copying it: only the containers on the operations' paths are copied (and frozen), everything
 * else is shared with `previous`, which stays as it was. The operations' values become part of
 * the result and are frozen in place. Returns undefined for a root `remove`; throws an
 * `RxkvError` (`INVALID_ARGUMENT`) when an operation does not apply (a path that is not there).
 */
export function applyPatch(previous: Json | undefined, patch: readonly Operation[]): Json | undefined {
  if (patch.length === 1) return applyOperation(previous, patch[0]!, null);
  let root = previous;
  // The copies made by this patch: a later operation changes them in place rather than again.
  const copies = new Set<object>();
  for (const operation of patch) root = applyOperation(root, operation, copies);
  for (const copy of copies) Object.freeze(copy);
  return root;
}

/**
 * One operation, on copies of the containers along its path. Those copies are frozen after it,
 * or, with `copies` (a patch of several operations), kept there to be frozen at its end.
 */
function applyOperation(root: Json | undefined, operation: Operation, copies: Set<object> | null): Json | undefined {
  const { op, path } = operation;
  if (op !== 'add' && op !== 'remove' && op !== 'replace') refuse(operation, `op ${JSON.stringify(op)} is not one rxkv sends`);
  if (path === '') {
    if (op !== 'add' && root === undefined) refuse(operation, 'there is no value');
    return op === 'remove' ? undefined : deepFreeze(operation.value);
  }
  if (path[0] !== '/') refuse(operation, 'a path starts with "/"');
  if (typeof root !== 'object' || root === null) refuse(operation, 'the value has no members');
  return changeCopy(root as object, operation, 1, copies) as Json;
}

/**
 * A copy of `container` with the operation applied at the rest of its path, from `start` (the
 * path's tokens are read in place, with no array of them: this runs for every change a replica
 * receives).
 */
function changeCopy(container: object, operation: Operation, start: number, copies: Set<object> | null): object {
  const copy = copyOf(container, copies) as Record<string, Json> | Json[];
  const path = operation.path;
  const end = path.indexOf('/', start);
  if (end === -1) {
    const last = unescape(path.slice(start));
    if (Array.isArray(copy)) changeArray(copy, last, operation);
    else changeObject(copy, last, operation);
  } else {
    const token = unescape(path.slice(start, end));
    const child = member(copy, token);
    if (typeof child !== 'object' || child === null) refuse(operation, `nothing at ${path.slice(0, end)}`);
    const changed = changeCopy(child, operation, end + 1, copies) as Json;
    if (Array.isArray(copy)) copy[Number(token)] = changed;
    else setMember(copy, token, changed);
  }
  if (copies === null) Object.freeze(copy);
  return copy;
}

function changeObject(object: Record<string, Json>, token: string, operation: Operation): void {
  if (operation.op === 'add') return setMember(object, token, deepFreeze(operation.value));
  if (!hasOwn(object, token)) refuse(operation, 'no such member');
  if (operation.op === 'replace') setMember(object, token, deepFreeze(operation.value));
  else delete object[token];
}

function changeArray(array: Json[], token: string, operation: Operation): void {
  if (operation.op === 'add' && token === '-') {
    array.push(deepFreeze(operation.value));
    return;
  }
  const index = INDEX.test(token) ? Number(token) : -1;
  if (index < 0 || index > array.length || (operation.op !== 'add' && index === array.length)) refuse(operation, 'no such index');
  if (operation.op === 'add') array.splice(index, 0, deepFreeze(operation.value));
  else if (operation.op === 'replace') array[index] = deepFreeze(operation.value);
  else array.splice(index, 1);
}

/** The member a token names (an array's by index), or undefined. */
function member(container: Record<string, Json> | Json[], token: string): Json | undefined {
  if (!Array.isArray(container)) return hasOwn(container, token) ? container[token] : undefined;
  return INDEX.test(token) ? container[Number(token)] : undefined;
}

function copyOf(node: object, copies: Set<object> | null): object {
  if (copies?.has(node) === true) return node;
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  copies?.add(copy);
  return copy;
}

/** RFC 6901: `~1` is `/`, `~0` is `~`. */
function unescape(token: string): string {
  return token.indexOf('~') === -1 ? token : token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function refuse(operation: Operation, why: string): never {
  throw new RxkvError(ErrorCode.INVALID_ARGUMENT, `The patch does not apply: ${operation.op} ${JSON.stringify(operation.path)}: ${why}.`);
}
