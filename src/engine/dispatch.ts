import { Observable, type Subscriber } from 'rxjs';
import type { Change } from './change.js';

type Listeners = readonly Subscriber<Change>[];
const NONE: Listeners = Object.freeze([]);

/**
 * Routes a table's changes to its subscribers through an index, so that a commit costs in
 * proportion to the subscribers that match, not to all of them: whole-table subscribers in one
 * list, key subscribers in a map. Lists are replaced, never mutated, on (un)subscribe: a delivery
 * walks the list as it was when it began, so a subscriber added by another's callback does not
 * see the change that was already under way.
 */
export class ChangeDispatcher {
  private all: Listeners = NONE;
  private readonly byKey = new Map<string, Listeners>();

  /** Whether anyone would receive a change of `key` (events are built only then). */
  wants(key: string): boolean {
    return this.all.length > 0 || this.byKey.has(key);
  }

  deliver(change: Change): void {
    const all = this.all;
    for (let i = 0; i < all.length; i++) all[i]!.next(change);
    const keyed = this.byKey.get(change.key);
    if (keyed !== undefined) for (let i = 0; i < keyed.length; i++) keyed[i]!.next(change);
  }

  /** Every change, or those of one key. */
  observe(key: string | undefined): Observable<Change> {
    return new Observable<Change>((subscriber) => {
      if (key === undefined) {
        this.all = [...this.all, subscriber];
        return () => {
          this.all = without(this.all, subscriber);
        };
      }
      this.byKey.set(key, [...(this.byKey.get(key) ?? NONE), subscriber]);
      return () => {
        const rest = without(this.byKey.get(key) ?? NONE, subscriber);
        if (rest.length === 0) this.byKey.delete(key);
        else this.byKey.set(key, rest);
      };
    });
  }

  /** Completes every subscriber (the database closed). */
  complete(): void {
    const everyone = [...this.all, ...[...this.byKey.values()].flat()];
    this.all = NONE;
    this.byKey.clear();
    for (const subscriber of everyone) subscriber.complete();
  }
}

function without(list: Listeners, subscriber: Subscriber<Change>): Listeners {
  const index = list.indexOf(subscriber);
  if (index === -1) return list;
  return list.length === 1 ? NONE : [...list.slice(0, index), ...list.slice(index + 1)];
}
