import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Change } from '../model/change.js';
import type { Json } from '../json/types.js';

/**
 * Only the changes of records whose key starts with `prefix`.
 *
 * @example
 * table.changes().pipe(byPrefix('eu/')).subscribe(render);
 */
export function byPrefix<T = Json>(prefix: string): MonoTypeOperatorFunction<Change<T>> {
  return filter((change) => change.key.startsWith(prefix));
}
