import { Observable, type Subscriber } from 'rxjs';
import type { Change } from '../model/change.js';
import { accepts, type ChangeFilter } from '../model/filter.js';

/** Where an `initial` subscription starts: the committed records as changes, and their seq. */
export interface InitialSource {
  seq(): number;
  changes(filter: ChangeFilter): Iterable<Change>;
}

/** One subscription: its subscriber and the conditions it checks on every change. */
class FilteredSubscriber {
  private readonly keys: ReadonlySet<string> | undefined;
  /** True when the index that routes changes here already checked everything the filter asks. */
  private readonly routed: boolean;

  constructor(
    readonly subscriber: Subscriber<Change>,
    private readonly filter: ChangeFilter,
    /** Changes up to this seq are already in what `initial` emitted. */
    public after: number,
  ) {
    this.keys = filter.keys === undefined ? undefined : new Set(filter.keys);
    const routes = (filter.key !== undefined ? 1 : 0) + (filter.keys !== undefined ? 1 : 0) + (filter.prefix !== undefined ? 1 : 0);
    this.routed = filter.where === undefined && filter.ops === undefined && routes <= 1;
  }

  /** Delivers the change if it matches; an error of the user's predicate goes to this subscriber alone. */
  deliver(change: Change): void {
    if (change.seq <= this.after) return;
    if (this.routed) {
      this.subscriber.next(change);
      return;
    }
    let matches: boolean;
    try {
      matches = accepts(this.filter, change, this.keys);
    } catch (error) {
      this.subscriber.error(error);
      return;
    }
    if (matches) this.subscriber.next(change);
  }
}

type Listeners = readonly FilteredSubscriber[];
const NONE: Listeners = Object.freeze([]);

/**
 * Routes changes to subscribers through indexes, so that a commit costs in proportion to the
 * subscribers that match, not to all of them: key subscribers in a map, prefix subscribers in a
 * map per prefix with the distinct prefix lengths in order (a change looks up one slice of its key
 * per length), and the rest (whole-table and predicate subscribers) in one list. Lists are
 * replaced, never mutated, on (un)subscribe: a delivery walks them as they were when it began.
 */
export class ChangeDispatcher {
  private all: Listeners = NONE;
  private readonly byKey = new Map<string, Listeners>();
  private readonly byPrefix = new Map<string, Listeners>();
  /** The distinct lengths of the prefixes subscribed, ascending, and how many prefixes have each. */
  private prefixLengths: number[] = [];
  private readonly lengthCounts = new Map<number, number>();

  /** Whether anyone might receive a change of `key` (events are built only then). */
  wants(key: string): boolean {
    if (this.all.length > 0 || this.byKey.has(key)) return true;
    const lengths = this.prefixLengths;
    for (let i = 0; i < lengths.length && lengths[i]! <= key.length; i++) {
      if (this.byPrefix.has(key.slice(0, lengths[i]))) return true;
    }
    return false;
  }

  deliver(change: Change): void {
    const all = this.all;
    for (let i = 0; i < all.length; i++) all[i]!.deliver(change);
    const keyed = this.byKey.get(change.key);
    if (keyed !== undefined) for (let i = 0; i < keyed.length; i++) keyed[i]!.deliver(change);
    const lengths = this.prefixLengths;
    const key = change.key;
    for (let i = 0; i < lengths.length && lengths[i]! <= key.length; i++) {
      const prefixed = this.byPrefix.get(key.slice(0, lengths[i]));
      if (prefixed !== undefined) for (let j = 0; j < prefixed.length; j++) prefixed[j]!.deliver(change);
    }
  }

  /**
   * The changes matching `filter`. With `initial`, the matching records `source` holds come
   * first, as `'new'` changes, and live changes already included in them are skipped: no gap, no
   * duplicate, even when subscribing from inside another subscriber's callback.
   */
  observe(filter: ChangeFilter, source: InitialSource, after = 0): Observable<Change> {
    return new Observable<Change>((subscriber) => {
      const listener = new FilteredSubscriber(subscriber, filter, 0);
      if (filter.initial === true) {
        for (const change of source.changes(filter)) {
          if (subscriber.closed) return;
          listener.deliver(change);
        }
        if (subscriber.closed) return;
        listener.after = source.seq();
      } else {
        listener.after = after;
      }
      this.add(listener, filter);
      return () => this.remove(listener, filter);
    });
  }

  /** Completes every subscriber (the database closed). */
  complete(): void {
    const everyone = new Set<FilteredSubscriber>([...this.all, ...[...this.byKey.values()].flat(), ...[...this.byPrefix.values()].flat()]);
    this.all = NONE;
    this.byKey.clear();
    this.byPrefix.clear();
    this.lengthCounts.clear();
    this.prefixLengths = [];
    for (const listener of everyone) listener.subscriber.complete();
  }

  private add(listener: FilteredSubscriber, filter: ChangeFilter): void {
    if (filter.key !== undefined) {
      push(this.byKey, filter.key, listener);
    } else if (filter.keys !== undefined) {
      for (const key of new Set(filter.keys)) push(this.byKey, key, listener);
    } else if (filter.prefix !== undefined && filter.prefix !== '') {
      if (push(this.byPrefix, filter.prefix, listener)) this.countLength(filter.prefix.length, 1);
    } else {
      this.all = [...this.all, listener];
    }
  }

  private remove(listener: FilteredSubscriber, filter: ChangeFilter): void {
    if (filter.key !== undefined) {
      pull(this.byKey, filter.key, listener);
    } else if (filter.keys !== undefined) {
      for (const key of new Set(filter.keys)) pull(this.byKey, key, listener);
    } else if (filter.prefix !== undefined && filter.prefix !== '') {
      if (pull(this.byPrefix, filter.prefix, listener)) this.countLength(filter.prefix.length, -1);
    } else {
      this.all = without(this.all, listener);
    }
  }

  private countLength(length: number, delta: number): void {
    const count = (this.lengthCounts.get(length) ?? 0) + delta;
    if (count === 0) this.lengthCounts.delete(length);
    else this.lengthCounts.set(length, count);
    this.prefixLengths = [...this.lengthCounts.keys()].sort((a, b) => a - b);
  }
}

/** Adds to the list under `key`; true when the key is new. */
function push(index: Map<string, Listeners>, key: string, listener: FilteredSubscriber): boolean {
  const list = index.get(key);
  index.set(key, list === undefined ? [listener] : [...list, listener]);
  return list === undefined;
}

/** Removes from the list under `key`; true when the key is gone. */
function pull(index: Map<string, Listeners>, key: string, listener: FilteredSubscriber): boolean {
  const list = index.get(key);
  if (list === undefined) return false;
  const rest = without(list, listener);
  if (rest.length > 0) {
    index.set(key, rest);
    return false;
  }
  index.delete(key);
  return true;
}

function without(list: Listeners, listener: FilteredSubscriber): Listeners {
  const index = list.indexOf(listener);
  if (index === -1) return list;
  return list.length === 1 ? NONE : [...list.slice(0, index), ...list.slice(index + 1)];
}
