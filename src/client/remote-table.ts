import { Observable } from 'rxjs';
import { ErrorCode, fail } from '../errors.js';
import type { Json, MergePatch } from '../json/types.js';
import { assertJson } from '../json/validate.js';
import { initialChange, type Change } from '../model/change.js';
import { accepts as passes, checkChangeFilter, type ChangeFilter } from '../model/filter.js';
import { checkKey } from '../model/keys.js';
import { OrderedRecords } from '../model/ordered-records.js';
import { checkRangeOptions, type RangeOptions } from '../model/range.js';
import type { RecordMeta } from '../model/record.js';
import { MAX_KEYS_PER_SUBSCRIPTION, MAX_RECORDS_PER_PAGE, type RecordsRange, type SubscriptionFilter, type WriteOp } from '../sync/protocol.js';
import type { ReplicaSnapshot, TableReplica } from './replica.js';
import type { ReplicaSession } from './session.js';

/** The write verbs of a remote table (or of a table in a remote transaction): each checks its arguments and makes one op. */
export interface WriteVerbs<T, R> {
  merge(key: string, patch: MergePatch<T>): R;
  put(key: string, value: T): R;
  delete(key: string): R;
}

/** The write verbs of table `table`, handing each op to `send`. */
export function writeVerbs<T, R>(table: string, send: (op: WriteOp) => R): WriteVerbs<T, R> {
  return {
    merge: (key, patch) => send({ op: 'merge', table, key: checkKey(key), value: checked(patch) }),
    put: (key, value) => send({ op: 'put', table, key: checkKey(key), value: checked(value) }),
    delete: (key) => send({ op: 'delete', table, key: checkKey(key) }),
  };
}

/**
 * A table of a remote database. Reads answer from the replica: the records that the table's
 * active streams (`watch`, `changes`, `state$`) subscribed to, kept equal to the server's.
 * Streams subscribe on the server on demand, shared by every observer of the same filter, and
 * unsubscribe when their last observer leaves.
 */
/** How a remote write is shown. */
export interface RemoteWriteOptions {
  /**
   * Show it in the replica, its reads and its streams at once, before the server confirms it
   * (default: the `optimistic` option of `connect`, itself false). Its changes carry `pending:
   * true`; if the server refuses it, the replica goes back and its streams emit the change back.
   */
  readonly optimistic?: boolean;
}

export class RemoteTable<T = Json> extends OrderedRecords<T> {
  private readonly ops: WriteVerbs<T, WriteOp>;

  /** @internal */
  constructor(
    private readonly session: ReplicaSession,
    private readonly replica: TableReplica,
  ) {
    super();
    this.ops = writeVerbs(replica.name, (op) => op);
  }

  get name(): string {
    return this.replica.name;
  }

  /** The record as the replica shows it (with optimistic writes not yet confirmed, if any). */
  get(key: string): T | undefined {
    return this.replica.value(key) as T | undefined;
  }

  has(key: string): boolean {
    return this.replica.value(key) !== undefined;
  }

  get size(): number {
    return this.replica.hasPendingWrites ? this.snapshot().size : this.replica.records.size;
  }

  range(options?: RangeOptions): IterableIterator<[string, T]> {
    return this.snapshot().range(options);
  }

  /** The replica's records as of now, unchanged by later changes. */
  snapshot(): ReplicaSnapshot<T> {
    return this.replica.snapshot(this.session.seq) as unknown as ReplicaSnapshot<T>;
  }

  /**
   * The whole table (subscribed on the server): its snapshot once it arrived, then a new one after
   * each message that changed it.
   */
  get state$(): Observable<ReplicaSnapshot<T>> {
    return new Observable<ReplicaSnapshot<T>>((subscriber) =>
      this.session.attach(this.replica, {}, {
        live: () => subscriber.next(this.snapshot()),
        change: () => undefined,
        applied: () => subscriber.next(this.snapshot()),
        end: (error) => (error === undefined ? subscriber.complete() : subscriber.error(error)),
      }),
    );
  }

  /** The record's value (undefined while absent) once it arrived, then after each change of it. */
  watch(key: string): Observable<T | undefined> {
    checkKey(key);
    return new Observable<T | undefined>((subscriber) =>
      this.session.attach(this.replica, { key }, {
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
      return this.session.attach(this.replica, subscription, {
        live: () => {
          if (checked.initial !== true || (checked.ops !== undefined && !checked.ops.includes('new'))) return;
          const seq = this.session.seq;
          const ts = Date.now();
          for (const [key, value] of this.replica.snapshot(seq).entries()) {
            const change = initialChange(this.name, key, value, seq, ts);
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

  /**
   * A page of the server's records of this table, with their metadata, in key order within bounds
   * (`{ prefix, gt, gte, lt, lte, limit (at most 1,000), reverse }`), read on the server rather than
   * from the replica: `more` says whether more lie within the bounds (go on from the last key).
   *
   * @example
   * const { records, more } = await remote.table('people').page({ prefix: 'eu/', limit: 50 });
   */
  async page(range: RecordsRange = {}): Promise<{ records: [key: string, value: T, meta: RecordMeta][]; more: boolean }> {
    checkRangeOptions(range);
    if (range.limit !== undefined && range.limit > MAX_RECORDS_PER_PAGE) fail(ErrorCode.INVALID_ARGUMENT, `page({ limit }) takes at most ${MAX_RECORDS_PER_PAGE}.`);
    const answer = await this.session.ask((id) => ({ type: 'records', id, table: this.name, range }));
    if (answer.type !== 'records') return { records: [], more: false };
    return { records: answer.records.map(([key, value, meta]) => [key, value as T, meta]), more: answer.more };
  }

  /**
   * Deep-merges `patch` into the record (RFC 7396); resolves to the commit's seq once durable on the server.
   *
   * @example
   * await todos.merge('a', { done: true }, { optimistic: true }); // shown at once, confirmed later
   */
  merge(key: string, patch: MergePatch<T>, options?: RemoteWriteOptions): Promise<number> {
    return this.session.write([this.ops.merge(key, patch)], optimistic(options));
  }

  /** Replaces the whole record; resolves to the commit's seq once durable on the server. */
  put(key: string, value: T, options?: RemoteWriteOptions): Promise<number> {
    return this.session.write([this.ops.put(key, value)], optimistic(options));
  }

  /** Deletes the record; resolves to the commit's seq once durable on the server. */
  delete(key: string, options?: RemoteWriteOptions): Promise<number> {
    return this.session.write([this.ops.delete(key)], optimistic(options));
  }
}

/** A write's `optimistic` option, checked (undefined: the client's default). */
export function optimistic(options: RemoteWriteOptions | undefined): boolean | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || (options.optimistic !== undefined && typeof options.optimistic !== 'boolean')) {
    fail(ErrorCode.INVALID_ARGUMENT, 'A write\'s options must be { optimistic?: boolean }.');
  }
  return options.optimistic;
}

/** Checks a value is plain JSON before it is sent (what `JSON.stringify` would drop or mangle is refused). */
function checked(value: unknown): Json {
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
