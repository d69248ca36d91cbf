import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import { ErrorCode, fail } from '../errors.js';
import type { Change } from '../model/change.js';
import type { Json } from '../json/types.js';

/**
 * Only the changes whose patch touches the member at `pointer` (an RFC 6901 JSON Pointer) or
 * anything below it, including an operation on one of its ancestors, which replaces it too.
 *
 * @example
 * table.changes().pipe(pathChanged('/profile/city')).subscribe(relocate);
 */
export function pathChanged<T = Json>(pointer: string): MonoTypeOperatorFunction<Change<T>> {
  if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) {
    fail(ErrorCode.INVALID_ARGUMENT, `pathChanged takes a JSON Pointer such as '/profile/city', not ${JSON.stringify(pointer)}.`);
  }
  return filter((change) => change.patch.some((operation) => touches(operation.path, pointer)));
}

/** Whether an operation at `path` changes the value at `pointer`: same member, ancestor or descendant. */
function touches(path: string, pointer: string): boolean {
  return path === pointer || pointer.startsWith(path + '/') || path.startsWith(pointer + '/') || path === '' || pointer === '';
}
