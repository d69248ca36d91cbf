import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Change, ChangeOp } from '../model/change.js';
import type { Json } from '../json/types.js';

/**
 * Only the changes of the given kinds.
 *
 * @example
 * table.changes().pipe(ofOp('new', 'delete')).subscribe(updateCount);
 */
export function ofOp<T = Json>(...ops: ChangeOp[]): MonoTypeOperatorFunction<Change<T>> {
  return filter((change) => ops.includes(change.op));
}
