import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type { Change } from '../engine/change.js';
import type { Json } from '../json/types.js';
import { diff } from '../json/diff.js';
import { jsonEqual } from '../json/equal.js';

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
  if (!(Number.isFinite(ms) && ms >= 0)) throw new TypeError(`squash takes a number of milliseconds, not ${ms}.`);
  return (source) =>
    new Observable<Change<T>>((subscriber) => {
      const windows = new Map<string, { first: Change<T>; last: Change<T>; timer: ReturnType<typeof setTimeout> }>();
      const close = (id: string) => {
        const window = windows.get(id)!;
        windows.delete(id);
        clearTimeout(window.timer);
        const merged = combine(window.first, window.last);
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

function combine<T>(first: Change<T>, last: Change<T>): Change<T> | null {
  if (first === last) return first;
  const { previous } = first;
  const { value } = last;
  if (previous === undefined && value === undefined) return null;
  if (previous !== undefined && value !== undefined && jsonEqual(previous as Json, value as Json)) return null;
  return {
    table: last.table,
    key: last.key,
    op: previous === undefined ? 'new' : value === undefined ? 'delete' : 'merge',
    value,
    previous,
    patch: diff(previous as Json | undefined, value as Json | undefined),
    seq: last.seq,
    ts: last.ts,
  };
}
