import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { ErrorCode, fail } from '../errors.js';

/**
 * What `authorize` is asked: to read (subscribe, or a page of `records`) or write a table, a key of
 * it, or a key prefix (a change stream of every table, as the inspector's, is a read of
 * `table: '*'`); `inspect`, to list the tables and their counts or the server's figures (the
 * inspector); or `admin`, for what reads the whole database (a dump, for a backup). `inspect` and
 * `admin` come with `table: '*'` (which no table is called) and are refused unless `authorize`
 * allows them (so never without an `authorize`).
 */
export interface Access {
  readonly action: 'read' | 'write' | 'inspect' | 'admin';
  readonly table: string;
  /** The key read or written; absent for a prefix or whole-table subscription. */
  readonly key?: string;
  /** The prefix of a `{ prefix }` subscription. */
  readonly prefix?: string;
}

export interface ServeOptions<P = unknown> {
  /** The port to listen on (`0`, the default, picks a free one). Ignored with `server`. */
  port?: number;
  /** The interface to listen on (default `127.0.0.1`: loopback only). Ignored with `server`. */
  host?: string;
  /** An HTTP(S) server to attach to, instead of listening on a port of our own. */
  server?: HttpServer | HttpsServer;
  /** Only upgrade requests to this path (default: any path). */
  path?: string;
  /**
   * Serve the inspector, a web page of the tables, their records and their live changes, and of
   * the server's figures, at `inspectorPath` (default off). It talks to this server as any client
   * does, under the same `authenticate` and `authorize` (it asks for a token when one is needed).
   */
  inspector?: boolean;
  /** Where the inspector is served (default `/inspector`). */
  inspectorPath?: string;
  /**
   * Called with the token of a connecting client's `hello`; returns (or resolves to) the principal
   * `authorize` will be asked about, or null (or false, or undefined) to refuse, as does throwing.
   * Without it, every client is let in.
   */
  authenticate?: (context: { token: string | undefined; request: IncomingMessage }) => P | null | false | undefined | Promise<P | null | false | undefined>;
  /** Asked on every subscribe and every write; only `true` allows. Without it, everything is allowed. */
  authorize?: (principal: P, access: Access) => boolean | Promise<boolean>;
  /** The browser `Origin`s allowed to connect; others get HTTP 403. Requests without an `Origin` (not from a browser) are let through. */
  origins?: readonly string[];
  /**
   * Compress messages with WebSocket's permessage-deflate, when the client offers it (browsers and
   * `rxkv/client` do), with `ws`'s settings: a message under 1 KiB goes as it is, and each
   * connection keeps its compression state (about 250 KiB more memory per connection, outside the
   * JS heap, once it has been sent a compressed message). Default false: on loopback W7 sent a
   * tenth of the bytes per change with it, and its replicas drained half as many merges per
   * second (W7z in `npm run bench`). Worth it where bandwidth costs more than CPU.
   */
  perMessageDeflate?: boolean;
  /** The largest message a client may send, in bytes (default 1 MiB); a larger one closes the connection with 1009. */
  maxMessageBytes?: number;
  /** The most subscriptions one connection may hold (default 100). */
  maxSubscriptions?: number;
  /**
   * How many bytes may wait to be sent to one client (default 4 MiB). Beyond it, the client is
   * behind: its changes are squashed per record until it catches up, and if it stays behind for
   * `stallTimeout` it is disconnected (close code 4429) to resume when it returns.
   */
  maxBufferedBytes?: number;
  /** How long a client may stay behind, in ms (default 10 s). */
  stallTimeout?: number;
  /** Ping interval, in ms (default 30 s; 0: none): a client that has not answered the previous ping is dropped. */
  heartbeat?: number;
  /** How long a client has to say `hello`, in ms (default 10 s). */
  helloTimeout?: number;
  /**
   * The recent changes kept to resume clients from: at most `logSize` of them (default 10,000) and
   * `logBytes` bytes of their JSON (default 16 MiB). A client that missed more gets fresh snapshots.
   */
  logSize?: number;
  logBytes?: number;
  /**
   * How long the log goes on following the database's changes once no client is connected, in ms
   * (default 30 s). Past it a commit costs the server nothing, and a client that comes back is sent
   * what changed since its position (the records changed, the keys deleted) instead of each change.
   */
  logIdle?: number;
  /**
   * About how many bytes of records one `snapshot` message carries (default 256 KiB; a larger
   * record goes alone). Snapshots are sent page by page, in slices of the event loop.
   */
  snapshotPageBytes?: number;
  /**
   * The clients whose last writes are remembered, so that a write sent again after its reply was
   * lost is never applied twice: at most `maxClients` of them (default 10,000; those heard from
   * least recently are forgotten first) for at most `clientTtl` ms since their last write (default
   * 30 days).
   */
  maxClients?: number;
  clientTtl?: number;
}

export interface Settings<P = unknown> {
  readonly authenticate: ServeOptions<P>['authenticate'];
  readonly authorize: ServeOptions<P>['authorize'];
  readonly origins: ReadonlySet<string> | undefined;
  readonly path: string | undefined;
  /** Where the inspector is served; undefined: it is not. */
  readonly inspectorPath: string | undefined;
  readonly perMessageDeflate: boolean;
  readonly maxMessageBytes: number;
  readonly maxSubscriptions: number;
  readonly maxBufferedBytes: number;
  readonly stallTimeout: number;
  readonly heartbeat: number;
  readonly helloTimeout: number;
  readonly logSize: number;
  readonly logBytes: number;
  readonly logIdle: number;
  readonly snapshotPageBytes: number;
  readonly maxClients: number;
  readonly clientTtl: number;
}

export function settings<P>(options: ServeOptions<P>): Settings<P> {
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'serve(db, options): options must be an object.');
  const { authenticate, authorize, origins, path, inspector, inspectorPath, perMessageDeflate = false } = options;
  if (authenticate !== undefined && typeof authenticate !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'serve: authenticate must be a function.');
  if (authorize !== undefined && typeof authorize !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'serve: authorize must be a function.');
  if (origins !== undefined && !(Array.isArray(origins) && origins.every((origin) => typeof origin === 'string'))) {
    fail(ErrorCode.INVALID_ARGUMENT, 'serve: origins must be an array of origins, such as ["https://app.example.com"].');
  }
  if (path !== undefined && !(typeof path === 'string' && path.startsWith('/'))) fail(ErrorCode.INVALID_ARGUMENT, 'serve: path must start with "/".');
  if (inspector !== undefined && typeof inspector !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'serve: inspector must be true or false.');
  if (inspectorPath !== undefined && !(typeof inspectorPath === 'string' && /^\/[^?#]*[^/?#]$/.test(inspectorPath))) {
    fail(ErrorCode.INVALID_ARGUMENT, 'serve: inspectorPath must be a path such as "/inspector" (it starts with "/", does not end with one).');
  }
  if (typeof perMessageDeflate !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'serve: perMessageDeflate must be true or false.');
  return {
    authenticate,
    authorize,
    origins: origins === undefined ? undefined : new Set(origins),
    path,
    inspectorPath: inspector === true ? (inspectorPath ?? '/inspector') : undefined,
    perMessageDeflate,
    maxMessageBytes: count(options as Record<string, unknown>, 'maxMessageBytes', 1 << 20, 1),
    maxSubscriptions: count(options as Record<string, unknown>, 'maxSubscriptions', 100, 1),
    maxBufferedBytes: count(options as Record<string, unknown>, 'maxBufferedBytes', 4 << 20, 1),
    stallTimeout: count(options as Record<string, unknown>, 'stallTimeout', 10_000, 1),
    heartbeat: count(options as Record<string, unknown>, 'heartbeat', 30_000, 0),
    helloTimeout: count(options as Record<string, unknown>, 'helloTimeout', 10_000, 1),
    logSize: count(options as Record<string, unknown>, 'logSize', 10_000, 0),
    logBytes: count(options as Record<string, unknown>, 'logBytes', 16 << 20, 0),
    logIdle: count(options as Record<string, unknown>, 'logIdle', 30_000, 0),
    snapshotPageBytes: count(options as Record<string, unknown>, 'snapshotPageBytes', 256 << 10, 1),
    maxClients: count(options as Record<string, unknown>, 'maxClients', 10_000, 1),
    clientTtl: count(options as Record<string, unknown>, 'clientTtl', 30 * 24 * 3600 * 1000, 1),
  };
}

function count(options: Record<string, unknown>, name: keyof ServeOptions, fallback: number, least: number): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (!(Number.isSafeInteger(value) && (value as number) >= least)) fail(ErrorCode.INVALID_ARGUMENT, `serve: ${name} must be an integer >= ${least}.`);
  return value as number;
}
