import type { Observable } from 'rxjs';
import type { Json } from '../json/types.js';
import { checkTableName } from '../model/keys.js';
import { ErrorCode, RxkvError } from '../errors.js';
import type { ServerStats, WriteOp } from '../sync/protocol.js';
import { RemoteTable, writeVerbs, type WriteVerbs } from './remote-table.js';
import { ReplicaSession, type SessionOptions } from './session.js';
import type { Status, WebSocketConstructor } from './transport.js';

export type ConnectOptions = SessionOptions;
export type { ConnectionState, Status } from './transport.js';

/**
 * A database served by `rxkv/server`, seen through a live replica. Made by `connect(url)`.
 * It connects at once and reconnects after a drop (with backoff and jitter), resuming every
 * subscription from the last `seq` it applied: no change is lost, repeated or reordered.
 */
export class RemoteDatabase {
  private readonly session: ReplicaSession;

  /** @internal Made by `connect`. */
  constructor(url: string, options: ConnectOptions, WebSocket: WebSocketConstructor) {
    this.session = new ReplicaSession(url, options, WebSocket);
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
   * Writes several records atomically: `fn` records the writes, which are sent as one transaction.
   * Resolves to its seq once durable on the server; nothing is written if any of them fails.
   *
   * @example
   * await remote.transaction((tx) => {
   *   tx.table('todos').merge('a', { done: true });
   *   tx.table('log').put('a-done', { at: Date.now() });
   * });
   */
  transaction(fn: (tx: RemoteTransaction) => void): Promise<number> {
    const ops: WriteOp[] = [];
    try {
      fn(new RemoteTransaction(ops));
    } catch (error) {
      return Promise.reject(error);
    }
    if (ops.length === 0) return Promise.resolve(this.session.seq);
    return this.session.write(ops);
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
  close(): Promise<void> {
    return this.session.close();
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
