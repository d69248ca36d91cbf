import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Subscription as RxSubscription } from 'rxjs';
import { WebSocketServer } from 'ws';
import type { Database } from '../db/database.js';
import type { Change } from '../model/change.js';
import { ErrorCode, fail } from '../errors.js';
import { CloseCode, type ServerStats } from '../sync/protocol.js';
import { ChangeLog } from './change-log.js';
import { ClientLedger } from './client-ledger.js';
import { InspectorPage } from './inspector.js';
import { Session, type Host } from './session.js';
import { settings, type ServeOptions, type Settings } from './options.js';
import { Routes } from './routes.js';
import { Slicer } from './slicer.js';
import { changeJson } from './wire.js';

/** How often the entries of clients past their time to live are dropped. */
const PRUNE_EVERY_MS = 3600_000;

/** A running sync server. */
export interface SyncServer {
  /** The port it listens on (that of the attached server, with `server`). */
  readonly port: number;
  /** How many clients are connected. */
  readonly connections: number;
  /** Disconnects every client (close code 1001) and stops serving; the database stays open. */
  close(): Promise<void>;
}

/**
 * Serves a database to `rxkv/client` replicas over WebSocket.
 *
 * @example
 * const server = await serve(db, {
 *   port: 8080,
 *   authenticate: ({ token }) => users.byToken(token) ?? null,
 *   authorize: (user, { action, table }) => action === 'read' || user.admin,
 * });
 */
export async function serve<P = unknown>(db: Database, options: ServeOptions<P> = {}): Promise<SyncServer> {
  const resolved = settings(options);
  const page = resolved.inspectorPath === undefined ? undefined : new InspectorPage(resolved.inspectorPath, resolved.path ?? resolved.inspectorPath);
  let http = options.server;
  const owned = http === undefined;
  let unmount: (() => void) | undefined;
  if (http === undefined) {
    http = createServer((request, response) => {
      if (page?.owns(request)) page.serve(request, response);
      else response.writeHead(426, { 'content-type': 'text/plain' }).end(`A WebSocket endpoint: connect with rxkv/client${page === undefined ? '' : `, or open ${page.path}/ in a browser`}.\n`);
    });
    await listen(http, options.port ?? 0, options.host ?? '127.0.0.1');
  } else {
    unmount = page?.mount(http);
  }
  return new Server(db, http, owned, resolved as Settings, unmount);
}

class Server implements SyncServer, Host {
  readonly routes = new Routes();
  readonly slicer = new Slicer();
  readonly log: ChangeLog;
  readonly ledger: ClientLedger;
  private readonly clients = new Set<Session>();
  /** The session of each client id. */
  private readonly byClient = new Map<string, Session>();
  private readonly sockets: WebSocketServer;
  /**
   * The database's changes, followed only while a client is connected (and `logIdle` after): with
   * none, a commit costs the server nothing (a client that comes back later resumes from the
   * database's record versions and kept deletes instead of the log).
   */
  private feed: RxSubscription | null = null;
  /** While no client is connected: the timer that stops following (see `logIdle`). */
  private idle: ReturnType<typeof setTimeout> | null = null;
  private readonly heartbeat: ReturnType<typeof setInterval> | null;
  private readonly pruning: ReturnType<typeof setInterval>;
  private readonly upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => this.onUpgrade(request, socket, head);
  /** The database's history when the log started: a change under another means it restarted. */
  private history: string;
  private closing: Promise<void> | null = null;
  /** Commits seen in the current second and the one before it (for `stats`). */
  private readonly commits = { second: 0, current: 0, last: 0, seq: 0 };

  constructor(
    readonly db: Database,
    private readonly http: HttpServer | import('node:https').Server,
    private readonly owned: boolean,
    readonly settings: Settings,
    /** Takes the inspector's page off a server of the user's. */
    private readonly unmount: (() => void) | undefined,
  ) {
    this.history = db.history;
    this.log = new ChangeLog(settings.logSize, settings.logBytes, db.seq);
    this.sockets = new WebSocketServer({ noServer: true, maxPayload: settings.maxMessageBytes, perMessageDeflate: settings.perMessageDeflate });
    http.on('upgrade', this.upgrade);
    this.heartbeat = settings.heartbeat > 0 ? setInterval(() => this.clients.forEach((client) => client.ping()), settings.heartbeat) : null;
    this.heartbeat?.unref();
    this.ledger = new ClientLedger(db, settings.maxClients, settings.clientTtl, () => new Set(this.byClient.keys()));
    const pruneExpired = (): void => void this.ledger.pruneExpired().catch(() => undefined);
    pruneExpired();
    this.pruning = setInterval(pruneExpired, PRUNE_EVERY_MS);
    this.pruning.unref();
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get connections(): number {
    return this.clients.size;
  }

  claim(client: string, session: Session): void {
    const previous = this.byClient.get(client);
    this.byClient.set(client, session);
    previous?.close(CloseCode.REPLACED, 'another connection took over this client id');
  }

  closed(session: Session): void {
    this.clients.delete(session);
    if (this.clients.size === 0 && this.closing === null) {
      // Kept a while: a client back soon (a reload, a dropped connection) is replayed what it missed.
      this.idle = setTimeout(() => this.unfollow(), this.settings.logIdle);
      this.idle.unref();
    }
    if (session.client !== undefined && this.byClient.get(session.client) === session) this.byClient.delete(session.client);
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutDown());
  }

  private async shutDown(): Promise<void> {
    this.http.off('upgrade', this.upgrade);
    this.unmount?.();
    this.unfollow();
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    clearInterval(this.pruning);
    for (const client of [...this.clients]) client.close(CloseCode.GOING_AWAY, 'server closing');
    await new Promise<void>((resolve) => this.sockets.close(() => resolve()));
    if (this.owned) {
      await new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        this.http.closeAllConnections?.();
      });
    }
  }

  stats(): ServerStats {
    const sessions = [...this.clients];
    this.roll();
    return {
      connections: sessions.length,
      subscriptions: this.routes.counts(),
      seq: this.db.seq,
      history: this.db.history,
      commitsPerSecond: this.commits.last,
      bufferedBytes: sessions.reduce((sum, session) => sum + session.bufferedBytes, 0),
      slowClients: sessions.filter((session) => session.outbox.behind).length,
    };
  }

  /** Counts a commit (the changes of one commit share its seq) in the second it was seen: the clock is read once per commit. */
  private countCommit(seq: number): void {
    if (seq === this.commits.seq) return;
    this.roll();
    this.commits.current++;
    this.commits.seq = seq;
  }

  /** Moves the commit counts on to the current second. */
  private roll(): void {
    const second = Math.floor(Date.now() / 1000);
    const commits = this.commits;
    if (second === commits.second) return;
    commits.last = second === commits.second + 1 ? commits.current : 0;
    commits.current = 0;
    commits.second = second;
  }

  /** Starts following the database's changes: the log covers what comes from now on. */
  private follow(): void {
    this.history = this.db.history;
    this.log.reset(this.db.seq);
    this.feed = this.db.changes().subscribe((change) => this.publish(change));
  }

  private unfollow(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    this.feed?.unsubscribe();
    this.feed = null;
  }

  private publish(change: Change): void {
    if (this.db.history !== this.history) {
      // db.recover() republished the database from disk: what clients hold is no longer a prefix
      // of its history. They reconnect and take fresh snapshots.
      this.history = this.db.history;
      this.log.reset(this.db.seq);
      for (const client of [...this.clients]) client.close(CloseCode.RESYNC, 'history restarted');
      return;
    }
    this.countCommit(change.seq);
    const json = changeJson(change);
    this.log.append(change.seq, change.table, change.key, json);
    this.routes.route(change, json);
  }

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { path, origins } = this.settings;
    if (path !== undefined && new URL(request.url ?? '/', 'http://localhost').pathname !== path) {
      // On a server of the user's, other paths may be someone else's to upgrade.
      if (this.owned) refuse(socket, 404, 'Not Found');
      return;
    }
    const origin = request.headers.origin;
    if (origins !== undefined && origin !== undefined && !origins.has(origin)) {
      refuse(socket, 403, 'Forbidden');
      return;
    }
    if (this.closing !== null) {
      refuse(socket, 503, 'Service Unavailable');
      return;
    }
    this.sockets.handleUpgrade(request, socket, head, (webSocket) => {
      if (this.closing !== null) {
        webSocket.close(CloseCode.GOING_AWAY, 'server closing');
        return;
      }
      if (this.idle !== null) clearTimeout(this.idle);
      this.idle = null;
      if (this.feed === null) this.follow();
      this.clients.add(new Session(webSocket, request, this));
    });
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function listen(http: HttpServer, port: number, host: string): Promise<void> {
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) fail(ErrorCode.INVALID_ARGUMENT, 'serve: port must be an integer from 0 to 65535.');
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
}
