import { Observable } from 'rxjs';
import type { Change } from '../engine/change.js';
import { accepts as passes, type ChangeFilter } from '../engine/dispatch.js';
import { checkChangeFilter, checkKey } from '../engine/arguments.js';
import type { RangeOptions } from '../engine/snapshot.js';
import type { Json, MergePatch } from '../json/types.js';
import { assertJson } from '../json/validate.js';
import { ErrorCode, fail } from '../errors.js';
import { MAX_KEYS_PER_SUBSCRIPTION, type SubscriptionFilter, type WriteOp } from '../sync/protocol.js';
import type { Listener, ReplicaSnapshot, TableReplica } from './replica.js';

/** What a remote table needs of its client. */
export interface ClientCore {
  readonly seq: number;
  attach(replica: TableReplica, filter: SubscriptionFilter, listener: Listener): () => void;
  write(ops: readonly WriteOp[]): Promise<number>;
}

/**
 * A table of a remote database. Reads answer from the replica: the records that the table's
 * active streams (`watch`, `changes`, `state$`) subscribed to, kept equal to the server's.
 * Streams subscribe on the server on demand, shared by every observer of the same filter, and
 * unsubscribe when their last observer leaves.
 */
export class RemoteTable<T = Json> {
  /** @internal */
  constructor(
    private readonly core: ClientCore,
    private readonly replica: TableReplica,
  ) {}

  get name(): string {
    return this.replica.name;
  }

  get(key: string): T | undefined {
    return this.replica.records.get(key) as T | undefined;
  }

  has(key: string): boolean {
    return this.replica.records.has(key);
  }

  get size(): number {
    return this.replica.records.size;
  }

  keys(): IterableIterator<string> {
    return this.snapshot().keys();
  }

  values(): IterableIterator<T> {
    return this.snapshot().values();
  }

  entries(): IterableIterator<[string, T]> {
    return this.snapshot().entries();
  }

  range(options?: RangeOptions): IterableIterator<[string, T]> {
    return this.snapshot().range(options);
  }

  /** The replica's records as of now, unchanged by later changes. */
  snapshot(): ReplicaSnapshot<T> {
    return this.replica.snapshot(this.core.seq) as unknown as ReplicaSnapshot<T>;
  }

  /**
   * The whole table (subscribed on the server): its snapshot once it arrived, then a new one after
   * each message that changed it.
   */
  get state$(): Observable<ReplicaSnapshot<T>> {
    return new Observable<ReplicaSnapshot<T>>((subscriber) =>
      this.core.attach(this.replica, {}, {
        live: () => subscriber.next(this.snapshot()),
        change: () => undefined,
        settled: () => subscriber.next(this.snapshot()),
        end: (error) => (error === undefined ? subscriber.complete() : subscriber.error(error)),
      }),
    );
  }

  /** The record's value (undefined while absent) once it arrived, then after each change of it. */
  watch(key: string): Observable<T | undefined> {
    checkKey(key);
    return new Observable<T | undefined>((subscriber) =>
      this.core.attach(this.replica, { key }, {
        live: () => subscriber.next(this.get(key)),
        change: (change) => subscriber.next(change.value as T | undefined),
        end: (error) => (error === undefined ? subscriber.complete() : subscriber.error(error)),
      }),
    );
  }

  /**
   * The changes of this table, as a local table's `changes(filter)` (`key`, `keys`, `prefix`,
   * `where`, `ops`, `initial`), from the moment the subscription's snapshot arrived.
   */
  changes(filter: ChangeFilter<T> = {}): Observable<Change<T>> {
    const checked = checkChangeFilter(filter) as ChangeFilter;
    const keys = checked.keys === undefined ? undefined : new Set(checked.keys);
    const subscription = serverFilter(checked);
    return new Observable<Change<T>>((subscriber) => {
      const accepts = (change: Change): boolean => {
        try {
          return passes(checked, change, keys);
        } catch (error) {
          subscriber.error(error);
          return false;
        }
      };
      return this.core.attach(this.replica, subscription, {
        live: () => {
          if (checked.initial !== true || (checked.ops !== undefined && !checked.ops.includes('new'))) return;
          const seq = this.core.seq;
          const ts = Date.now();
          for (const [key, value] of this.replica.snapshot(seq).entries()) {
            const change: Change = { table: this.name, key, op: 'new', value, previous: undefined, patch: [{ op: 'add', path: '', value }], seq, ts };
            if (accepts(change)) subscriber.next(change as Change<T>);
          }
        },
        change: (change) => {
          if (accepts(change)) subscriber.next(change as Change<T>);
        },
        end: (error) => (error === undefined ? subscriber.complete() : subscriber.error(error)),
      });
    });
  }

  /** Deep-merges `patch` into the record (RFC 7396); resolves to the commit's seq once durable on the server. */
  merge(key: string, patch: MergePatch<T>): Promise<number> {
    return this.write({ op: 'merge', table: this.name, key: checkKey(key), value: checked(patch) });
  }

  /** Replaces the whole record; resolves to the commit's seq once durable on the server. */
  put(key: string, value: T): Promise<number> {
    return this.write({ op: 'put', table: this.name, key: checkKey(key), value: checked(value) });
  }

  /** Deletes the record; resolves to the commit's seq once durable on the server. */
  delete(key: string): Promise<number> {
    return this.write({ op: 'delete', table: this.name, key: checkKey(key) });
  }

  private write(op: WriteOp): Promise<number> {
    return this.core.write([op]);
  }
}

/** Checks a value is plain JSON before it is sent (what `JSON.stringify` would drop or mangle is refused). */
export function checked(value: unknown): Json {
  assertJson(value, undefined);
  return value as Json;
}

/** The server subscription a filter needs: its narrowest key condition (the rest is checked here). */
function serverFilter(filter: ChangeFilter): SubscriptionFilter {
  if (filter.key !== undefined) return { key: filter.key };
  if (filter.keys !== undefined) {
    if (filter.keys.length > MAX_KEYS_PER_SUBSCRIPTION) {
      fail(ErrorCode.LIMIT_EXCEEDED, `changes({ keys }) of a remote table takes at most ${MAX_KEYS_PER_SUBSCRIPTION} keys (this one has ${filter.keys.length}): split them over several streams.`);
    }
    return { keys: filter.keys };
  }
  if (filter.prefix !== undefined && filter.prefix !== '') return { prefix: filter.prefix };
  return {};
}
