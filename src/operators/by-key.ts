import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Change } from '../model/change.js';
import type { Json } from '../json/types.js';

/**
 * Only the changes of one record.
 *
 * @example
 * db.changes().pipe(byKey(id)).subscribe(render);
 */
export function byKey<T = Json>(key: string): MonoTypeOperatorFunction<Change<T>> {
  return filter((change) => change.key === key);
}
