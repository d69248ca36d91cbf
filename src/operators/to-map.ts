import { Observable, type OperatorFunction } from 'rxjs';
import type { Change } from '../model/change.js';
import type { Json } from '../json/types.js';

/**
 * Folds a change stream into a live map of records by key, emitted after every change. The
 * map is one instance, updated in place: copy it (`new Map(map)`) to keep a version. Use it on
 * the changes of one table (keys of different tables would collide); start the stream with
 * `{ initial: true }` to fill it with the records that exist already.
 *
 * @example
 * table.changes({ initial: true }).pipe(toMap()).subscribe((records) => render([...records.values()]));
 */
export function toMap<T = Json>(): OperatorFunction<Change<T>, ReadonlyMap<string, T>> {
  return (source) =>
    new Observable<ReadonlyMap<string, T>>((subscriber) => {
      const records = new Map<string, T>();
      return source.subscribe({
        next(change) {
          if (change.value === undefined) records.delete(change.key);
          else records.set(change.key, change.value);
          subscriber.next(records);
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}
