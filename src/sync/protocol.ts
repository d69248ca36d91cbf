/**
 * The sync protocol between `rxkv/server` and `rxkv/client`: one JSON object per WebSocket text
 * message, each with a `type`. The README documents it as a table; this file is its source.
 *
 * One connection is one ordered stream: everything the server sends is in the order it happened,
 * so a replica that applies messages in order equals the server, for what it subscribed to, as of
 * the last `seq` it saw. That is what makes resuming from one `seq` per connection exact.
 */
import type { Json, MergePatch, Operation } from '../json/types.js';
import type { ChangeOp } from '../model/change.js';
import type { KeyFilter } from '../model/filter.js';

/**
 * 3: the database's history id (`welcome`, `subscribe`), resume from durable state after a restart
 * (snapshot pages with `partial` and `removed`), client ids and mutation numbers (exactly-once
 * writes), `dump` for backups over the wire, `inspect` and `records` for the inspector.
 * 2: snapshots in pages (`last`), `ping`/`pong`, per-subscription key limit.
 */
export const PROTOCOL_VERSION = 3;

/** The most keys one `{ keys }` subscription may name; past it, that subscription alone is refused (`LIMIT_EXCEEDED`). */
export const MAX_KEYS_PER_SUBSCRIPTION = 1000;

/** WebSocket close codes the server uses (1000-1015 are the standard ones, 4000-4999 are ours). */
export const CloseCode = {
  /** The server is shutting down (`close()`): reconnect later. */
  GOING_AWAY: 1001,
  /** A message larger than `maxMessageBytes` (closed by `ws` itself). */
  MESSAGE_TOO_BIG: 1009,
  /** The first message was not a valid `hello`, or its protocol version is not spoken here: refused. */
  BAD_HELLO: 4400,
  /** `authenticate` refused the token: refused. */
  UNAUTHORIZED: 4401,
  /** No `hello` within the hello timeout. */
  HELLO_TIMEOUT: 4408,
  /** The database's history restarted (after `db.recover()`): reconnect and take fresh snapshots. */
  RESYNC: 4409,
  /** Another connection said hello with this connection's client id: it took over (refused: the client stops). */
  REPLACED: 4410,
  /** The client stopped reading and stayed behind: reconnect and resume. */
  TOO_SLOW: 4429,
} as const;

/** Close codes after which a client must not reconnect on its own. */
export const REFUSED_CODES: ReadonlySet<number> = new Set([CloseCode.BAD_HELLO, CloseCode.UNAUTHORIZED, CloseCode.REPLACED]);

/** The longest client id a `hello` may carry. */
export const MAX_CLIENT_ID_LENGTH = 128;

/** What a subscription covers: one key, some keys, a key prefix, or (none of them) the whole table. */
export type SubscriptionFilter = KeyFilter;

export interface SubscriptionSpec extends SubscriptionFilter {
  /** The client's number for this subscription, unique on its connection. */
  readonly sub: number;
  /** The table; with `tail`, `'*'` (which no table is called) for every table. */
  readonly table: string;
  /**
   * Changes only: no snapshot, the changes it covers from the `subscribed` on (after those the
   * position given resumes from, when the server's log still holds them). What the inspector's
   * change stream reads.
   */
  readonly tail?: boolean;
}

/** The `table` of a tail of every table. */
export const EVERY_TABLE = '*';

export type WriteOp =
  | { readonly op: 'merge'; readonly table: string; readonly key: string; readonly value: MergePatch<Json> }
  | { readonly op: 'put'; readonly table: string; readonly key: string; readonly value: Json }
  | { readonly op: 'delete'; readonly table: string; readonly key: string };

export type ClientMessage =
  /** `client`: the client's id, for exactly-once writes (one connection per id at a time). */
  | { readonly type: 'hello'; readonly v: number; readonly token?: string; readonly client?: string }
  /**
   * With `since` and `history` (the position a replica reached), resume: what changed after `since`
   * comes instead of snapshots when the server's database continues that history and can still tell.
   */
  | { readonly type: 'subscribe'; readonly id: number; readonly subs: readonly SubscriptionSpec[]; readonly since?: number; readonly history?: string }
  | { readonly type: 'unsubscribe'; readonly id: number; readonly subs: readonly number[] }
  /**
   * One op is a plain write; several are one transaction (all or nothing). With `m`, the client's
   * mutation number (after a `hello` with `client`): a number at or below the last one the server
   * recorded for the client is answered with its recorded outcome, never applied again. `ack`: every
   * write of the client up to it is settled on the client's side (its outcome can be forgotten).
   */
  | { readonly type: 'write'; readonly id: number; readonly ops: readonly WriteOp[]; readonly m?: number; readonly ack?: number }
  /** The client's liveness check: answered by a `pong` behind everything queued before it. */
  | { readonly type: 'ping' }
  /** A dump of the database as of now (an `admin` action: refused unless `authorize` allows it), for backups. */
  | { readonly type: 'dump'; readonly id: number }
  /** What the server holds (`tables`) or how it is doing (`server`): an `inspect` action, refused unless `authorize` allows it. */
  | { readonly type: 'inspect'; readonly id: number; readonly what: 'tables' | 'server' }
  /** A page of a table's records with their metadata, in key order within bounds: a read of the table. */
  | { readonly type: 'records'; readonly id: number; readonly table: string; readonly range: RecordsRange };

/** The bounds of a `records` request: keys, as for `range()`; at most `MAX_RECORDS_PER_PAGE` records. */
export interface RecordsRange {
  readonly prefix?: string;
  readonly gt?: string;
  readonly gte?: string;
  readonly lt?: string;
  readonly lte?: string;
  readonly limit?: number;
  readonly reverse?: boolean;
}

/** The most records one `records` page holds (and its default). */
export const MAX_RECORDS_PER_PAGE = 1000;

/** The server's figures, as `inspect` `server` reports them. */
export interface ServerStats {
  readonly connections: number;
  /** Live subscriptions, by table. */
  readonly subscriptions: Readonly<Record<string, number>>;
  readonly seq: number;
  readonly history: string;
  /** Commits published in the last whole second (counted while the server follows changes). */
  readonly commitsPerSecond: number;
  /** Bytes waiting in the connections' sockets. */
  readonly bufferedBytes: number;
  /** Connections that stopped keeping up (see `maxBufferedBytes`). */
  readonly slowClients: number;
}

/** One change on the wire: `patch` takes the record from its previous value to its new one. */
export interface WireChange {
  readonly table: string;
  readonly key: string;
  readonly op: ChangeOp;
  readonly seq: number;
  readonly ts: number;
  readonly patch: readonly Operation[];
}

export type ServerMessage =
  /** `maxMessageBytes`: a client checks its writes against it, rather than be disconnected (1009). */
  | { readonly type: 'welcome'; readonly v: number; readonly history: string; readonly seq: number; readonly maxMessageBytes: number }
  /**
   * One page of the records a subscription covers, as of `seq`. Pages of one snapshot come one
   * after the other, nothing between them; the one with `last` ends it. Together they replace what
   * the replica held in the subscription's range; with `partial` (a resume from durable state),
   * they hold only the records changed since the subscription's position, and `removed` the keys
   * deleted since: the rest of what the replica holds stands.
   */
  | {
      readonly type: 'snapshot';
      readonly sub: number;
      readonly seq: number;
      readonly records: readonly (readonly [string, Json])[];
      readonly last: boolean;
      readonly partial?: true;
      readonly removed?: readonly string[];
    }
  | { readonly type: 'changes'; readonly changes: readonly WireChange[] }
  /** Ends a `subscribe`: every snapshot and replayed change it asked for came before. */
  | { readonly type: 'subscribed'; readonly id: number; readonly seq: number }
  | { readonly type: 'unsubscribed'; readonly id: number }
  /** A write is durable; any change of it the replica subscribed to came before. */
  | { readonly type: 'committed'; readonly id: number; readonly seq: number }
  | { readonly type: 'pong' }
  /** The answer to an `inspect`. */
  | { readonly type: 'inspected'; readonly id: number; readonly tables?: readonly { readonly name: string; readonly records: number }[]; readonly server?: ServerStats }
  /** A page of records: `[key, value, { version, created, updated }]`, and whether more lie within the bounds. */
  | { readonly type: 'records'; readonly id: number; readonly records: readonly (readonly [string, Json, { readonly version: number; readonly created: number; readonly updated: number }])[]; readonly more: boolean }
  /** A page of a dump: its lines (the header first) as JSON values; `last` ends it. */
  | { readonly type: 'dump'; readonly id: number; readonly lines: readonly Json[]; readonly last: boolean }
  /** A request failed (with `sub`: only that subscription of a `subscribe`); `id` is null when the request had none. */
  | { readonly type: 'error'; readonly id: number | null; readonly sub?: number; readonly code: string; readonly message: string };
