import { filter, firstValueFrom, Observable } from 'rxjs';
import type { Json } from '../json/types.js';
import type { ChangeOp } from '../model/change.js';
import { checkTableName } from '../model/keys.js';
import { ErrorCode, fail, RxkvError } from '../errors.js';
import { EVERY_TABLE, type ServerStats, type WireChange, type WriteOp } from '../sync/protocol.js';
import { optimistic, RemoteTable, writeVerbs, type RemoteWriteOptions, type WriteVerbs } from './remote-table.js';
import { ReplicaSession, type SessionOptions } from './session.js';
import { storeError, type ReplicaStore } from './store.js';
import type { Status, WebSocketConstructor } from './transport.js';

export type ConnectOptions = SessionOptions;

/** A change as `RemoteDatabase.changes` streams it: what changed and its RFC 6902 patch, without the record's values. */
export type PatchChange = WireChange;

/** Which changes `RemoteDatabase.changes` streams: of one table (default: every table), of keys with a prefix, of some ops. */
export interface PatchChangeFilter {
  readonly table?: string;
  readonly prefix?: string;
  readonly ops?: readonly ChangeOp[];
}

const OPS: ReadonlySet<string> = new Set(['new', 'merge', 'delete']);
export type { ConnectionState, Status } from './transport.js';

/**
 * A database served by `rxkv/server`, seen through a live replica. Made by `connect(url)`.
 * It connects at once and reconnects after a drop (with backoff and jitter), resuming every
 * subscription from the last `seq` it applied: no change is lost, repeated or reordered.
 */
export class RemoteDatabase {
  private readonly session: ReplicaSession;
  /** Clients sending the pending writes of the store's orphans (another tab's slot, say). */
  private readonly recovering = new Set<ReplicaSession>();

  /** @internal Made by `connect`. */
  constructor(url: string, options: ConnectOptions, WebSocket: WebSocketConstructor) {
    this.session = new ReplicaSession(url, options, WebSocket);
    const orphans = options.persist?.orphans?.bind(options.persist);
    if (orphans !== undefined) void this.recover(orphans, url, options, WebSocket);
  }

  /**
   * Once online, sends the writes the store's orphans hold, each under its own client id (so that
   * each is applied once), through a client of its own on that store, closed once they are answered.
   */
  private async recover(orphans: () => Promise<ReplicaStore[]>, url: string, options: ConnectOptions, WebSocket: WebSocketConstructor): Promise<void> {
    const status = await firstValueFrom(this.session.transport.status$.pipe(filter(({ state }) => state !== 'connecting')), { defaultValue: { state: 'closed' } as Status });
    if (status.state !== 'open') return;
    let stores: ReplicaStore[];
    try {
      stores = await orphans();
    } catch (error) {
      this.session.errors.next(storeError(error, 'looking for the pending writes of other tabs'));
      return;
    }
    for (const store of stores) {
      if (this.session.transport.status.state === 'closed') {
        await store.close();
        continue;
      }
      const orphan = new ReplicaSession(url, { ...options, persist: store, optimistic: false }, WebSocket);
      this.recovering.add(orphan);
      orphan.errors.subscribe((error) => this.session.errors.next(error));
      await orphan.drained();
      await orphan.close();
      this.recovering.delete(orphan);
    }
  }

  /** The connection's state: `connecting` (also while waiting to reconnect), `open`, `closed` (by `close()`) or `refused` (by the server; final). */
  get status$(): Observable<Status> {
    return this.session.transport.status$;
  }

  get status(): Status {
    return this.session.transport.status;
  }

  /** The seq of the newest state the replica shows. */
  get seq(): number {
    return this.session.seq;
  }

  table<T = Json>(name: string): RemoteTable<T> {
    return new RemoteTable<T>(this.session, this.session.replica(checkTableName(name)));
  }

  /**
   * The live change stream of the database (or of `filter.table`), as the server commits it: each
   * change's table, key, op, seq, time and patch, from the moment the server answered. It holds no
   * records (no snapshot is sent, nothing is kept), so it costs the client nothing per record;
   * subscribe a table (`table(name).changes()`) for the values. After a reconnect it goes on from the
   * last change it gave, with what the server's recent-change log still holds (`logSize`).
   * Authorized as a read of the table, or of `'*'` for every table.
   *
   * @example
   * remote.changes({ table: 'orders', ops: ['new'] }).subscribe((change) => console.log(change.key, change.patch));
   */
  changes(filter: PatchChangeFilter = {}): Observable<PatchChange> {
    if (typeof filter !== 'object' || filter === null) fail(ErrorCode.INVALID_ARGUMENT, 'changes(filter): filter must be an object { table, prefix, ops }.');
    const { table, prefix, ops } = filter;
    const name = table === undefined ? EVERY_TABLE : checkTableName(table);
    if (prefix !== undefined && typeof prefix !== 'string') fail(ErrorCode.INVALID_ARGUMENT, 'changes({ prefix }): prefix must be a string.');
    if (ops !== undefined && !(Array.isArray(ops) && ops.every((op) => OPS.has(op)))) fail(ErrorCode.INVALID_ARGUMENT, 'changes({ ops }): ops must be an array of "new", "merge" and "delete".');
    const wanted = ops === undefined ? undefined : new Set<string>(ops);
    return new Observable<PatchChange>((subscriber) =>
      this.session.tail(
        name,
        prefix === '' ? undefined : prefix,
        (change) => {
          if (wanted === undefined || wanted.has(change.op)) subscriber.next(change);
        },
        (error) => (error === undefined ? subscriber.complete() : subscriber.error(error)),
      ),
    );
  }

  /**
   * Writes several records atomically: `fn` records the writes, which are sent as one transaction.
   * Resolves to its seq once durable on the server; nothing is written if any of them fails.
   *
   * @example
   * await remote.transaction((tx) => {
   *   tx.table('todos').merge('a', { done: true });
   *   tx.table('log').put('a-done', { at: Date.now() });
   * });
   */
  transaction(fn: (tx: RemoteTransaction) => void, options?: RemoteWriteOptions): Promise<number> {
    const ops: WriteOp[] = [];
    let shown: boolean | undefined;
    try {
      shown = optimistic(options);
      fn(new RemoteTransaction(ops));
    } catch (error) {
      return Promise.reject(error);
    }
    if (ops.length === 0) return Promise.resolve(this.session.seq);
    return this.session.write(ops, shown);
  }

  /**
   * Failures no call can be told of, on a persisted replica (`persist`): its store failed to save
   * records (`STORE_FAILED`, `QUOTA_EXCEEDED`), they outgrew `maxStoredBytes` (`LIMIT_EXCEEDED`),
   * or a write an earlier client left in the store failed on the server. Completes on `close()`.
   */
  get errors$(): Observable<RxkvError> {
    return this.session.errors.asObservable();
  }

  /** How many optimistic writes the replica shows that its confirmed state does not include yet. */
  get pending$(): Observable<number> {
    return this.session.optimistic.count$.asObservable();
  }

  /**
   * The server's database as a dump (see `dump` in `rxkv`), line by line, as of one commit: for a
   * backup of a running server (`rxkv backup --url`). Allowed only when the server's `authorize`
   * allows `{ action: 'admin' }`; a dropped connection ends it with `CONNECTION_LOST`.
   */
  dump(): AsyncIterable<string> {
    return this.session.dump();
  }

  /** The server's tables with their record counts (an `inspect` action: allowed only when the server's `authorize` allows it). */
  async tables(): Promise<{ readonly name: string; readonly records: number }[]> {
    const answer = await this.session.ask((id) => ({ type: 'inspect', id, what: 'tables' }));
    return answer.type === 'inspected' ? [...(answer.tables ?? [])] : [];
  }

  /** How the server is doing: connections, subscriptions by table, commits per second, bytes queued, slow clients (an `inspect` action). */
  async serverStats(): Promise<ServerStats> {
    const answer = await this.session.ask((id) => ({ type: 'inspect', id, what: 'server' }));
    if (answer.type !== 'inspected' || answer.server === undefined) throw new RxkvError(ErrorCode.BAD_MESSAGE, 'The server answered inspect without its figures.');
    return answer.server;
  }

  /** Closes the connection: streams complete, writes not yet acknowledged reject (`CLIENT_CLOSED`). */
  async close(): Promise<void> {
    await Promise.all([this.session.close(), ...[...this.recovering].map((orphan) => orphan.close())]);
  }
}

/** The writes of a `transaction`, recorded and sent together. */
export class RemoteTransaction {
  /** @internal */
  constructor(private readonly ops: WriteOp[]) {}

  table<T = Json>(name: string): WriteVerbs<T, void> {
    return writeVerbs<T, void>(checkTableName(name), (op) => void this.ops.push(op));
  }
}
