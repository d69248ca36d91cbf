import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { ErrorCode, fail } from '../errors.js';
import type { Json } from '../json/types.js';
import { netChange, type Change } from '../model/change.js';

/**
 * Coalesces rapid changes of one record: the first change of a record opens a window of `ms`
 * milliseconds, and when it closes the record's changes in it go out as one change, from the
 * first `previous` to the last `value`, with a patch between the two (nothing goes out when they
 * cancel out). Pending windows are flushed when the source completes or fails.
 *
 * @example
 * table.changes().pipe(squash(50)).subscribe(sendToClient);
 */
export function squash<T = Json>(ms: number): MonoTypeOperatorFunction<Change<T>> {
  if (!(Number.isFinite(ms) && ms >= 0)) fail(ErrorCode.INVALID_ARGUMENT, `squash takes a number of milliseconds, not ${String(ms)}.`);
  return (source) =>
    new Observable<Change<T>>((subscriber) => {
      const windows = new Map<string, { first: Change<T>; last: Change<T>; timer: ReturnType<typeof setTimeout> }>();
      const close = (id: string) => {
        const window = windows.get(id)!;
        windows.delete(id);
        clearTimeout(window.timer);
        const { first, last } = window;
        const merged = first === last ? first : netChange(first.previous, last);
        if (merged !== null) subscriber.next(merged);
      };
      const closeAll = () => {
        for (const id of [...windows.keys()]) close(id);
      };
      const subscription = source.subscribe({
        next(change) {
          const id = change.table + '\u0000' + change.key;
          const open = windows.get(id);
          if (open !== undefined) open.last = change;
          else windows.set(id, { first: change, last: change, timer: setTimeout(() => close(id), ms) });
        },
        error(error) {
          closeAll();
          subscriber.error(error);
        },
        complete() {
          closeAll();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        for (const { timer } of windows.values()) clearTimeout(timer);
        windows.clear();
      };
    });
}
