import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Change } from '../model/change.js';
import type { Json } from '../json/types.js';

/**
 * Only the changes of records that match `predicate` before or after the change, so that a
 * subscriber also learns when a record stops matching.
 *
 * @example
 * table.changes().pipe(where((user) => user.profile.city === 'Oslo')).subscribe(render);
 */
export function where<T = Json>(predicate: (value: T, key: string) => boolean): MonoTypeOperatorFunction<Change<T>> {
  return filter(
    (change) =>
      (change.previous !== undefined && predicate(change.previous, change.key)) ||
      (change.value !== undefined && predicate(change.value, change.key)),
  );
}
