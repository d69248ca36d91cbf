import type { Database } from '../db/database.js';
import { dumpLines } from '../db/dump.js';
import type { Table } from '../db/table.js';
import type { Transaction, TransactionTable } from '../db/transaction.js';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import { covers, selectedKeys } from '../model/filter.js';
import { checkTableName } from '../model/keys.js';
import { MAX_KEYS_PER_SUBSCRIPTION, MAX_RECORDS_PER_PAGE, EVERY_TABLE, type ClientMessage, type RecordsRange, type ServerStats, type SubscriptionSpec, type WriteOp } from '../sync/protocol.js';
import type { ChangeLog } from './change-log.js';
import type { ClientLedger, Outcome } from './client-ledger.js';
import type { Access, Settings } from './options.js';
import type { Outbox } from './outbox.js';
import { Route, type Receiver, type Routes } from './routes.js';
import { DumpPages } from './dump-pages.js';
import { SnapshotPages } from './snapshot-pages.js';
import { describeError } from './wire.js';

/** A request a session admitted: everything but `hello` and `ping`. */
export type Request = Exclude<ClientMessage, { type: 'hello' | 'ping' }>;

/** What the request handlers need of the server. */
export interface Server {
  readonly db: Database;
  readonly settings: Settings;
  readonly routes: Routes;
  readonly log: ChangeLog;
  readonly ledger: ClientLedger;
  /** How the server is doing (`inspect` `server`). */
  stats(): ServerStats;
}

/** What the request handlers need of the session they answer for. */
export interface Session extends Receiver {
  /** What `authenticate` returned for this client. */
  readonly principal: unknown;
  /** The client id of its hello: its writes with mutation numbers are applied exactly once. */
  readonly client: string | undefined;
  /** Whether the connection is still there: a request answered after it closed is dropped. */
  readonly open: boolean;
  readonly outbox: Outbox;
  /** A request was answered (its reply, or its error, is queued). */
  answered(): void;
}

/** Whether a subscription may go ahead, or why not when it is refused for something else than `authorize`. */
type Verdict = boolean | { readonly code: string; readonly message: string };

/**
 * The handlers of one session's requests: subscribe (snapshots or a replay, then live changes),
 * unsubscribe, and write, each asked of `authorize` first. Holds the session's live routes.
 */
export class Requests {
  private readonly routes = new Map<number, Route>();

  constructor(
    private readonly server: Server,
    private readonly session: Session,
  ) {}

  /** Starts a request; returns a promise when its admission waits for `authorize`. */
  handle(request: Request): Promise<void> | undefined {
    switch (request.type) {
      case 'subscribe':
        // A position in another history (another database, or this one restarted) is no position here.
        return this.subscribe(request.id, request.subs, request.history === this.server.db.history ? request.since : undefined);
      case 'unsubscribe':
        this.unsubscribe(request.id, request.subs);
        return undefined;
      case 'write':
        return this.write(request.id, request.ops, request.m, request.ack);
      case 'dump':
        return this.dump(request.id);
      case 'inspect':
        return this.inspect(request.id, request.what);
      case 'records':
        return this.records(request.id, request.table, request.range);
    }
  }

  /** The session ended: its subscriptions stop. */
  close(): void {
    for (const route of this.routes.values()) this.server.routes.remove(route);
    this.routes.clear();
  }

  private subscribe(id: number, specs: readonly SubscriptionSpec[], since: number | undefined): Promise<void> | undefined {
    const numbers = new Set(specs.map((spec) => spec.sub));
    if (numbers.size !== specs.length || specs.some((spec) => this.routes.has(spec.sub))) {
      this.fail(id, ErrorCode.BAD_MESSAGE, 'subscribe: each "sub" must be a number not in use on this connection.');
      return undefined;
    }
    const room = this.server.settings.maxSubscriptions - this.routes.size;
    const verdicts = specs.map((spec, i) => this.refusal(spec, i < room) ?? this.authorized(readAccess(spec)));
    return whenAll(verdicts, (allowed) => this.subscribed(id, specs, allowed, since));
  }

  /** Why a subscription is refused before `authorize` is asked, if it is: each is refused alone. */
  private refusal(spec: SubscriptionSpec, hasRoom: boolean): Verdict | undefined {
    if (!hasRoom) return { code: ErrorCode.LIMIT_EXCEEDED, message: `At most ${this.server.settings.maxSubscriptions} subscriptions per connection.` };
    if (spec.keys !== undefined && spec.keys.length > MAX_KEYS_PER_SUBSCRIPTION) {
      return { code: ErrorCode.LIMIT_EXCEEDED, message: `At most ${MAX_KEYS_PER_SUBSCRIPTION} keys per subscription (this one has ${spec.keys.length}): split them over several.` };
    }
    if (spec.tail === true && spec.table === EVERY_TABLE) return undefined;
    try {
      checkTableName(spec.table);
    } catch (error) {
      return describeError(error);
    }
    return undefined;
  }

  /**
   * Snapshots (or the replay since `since`) and going live, in one step: nothing falls between. A
   * tail takes no snapshot: it gets the replay when there is one, else only what comes next.
   */
  private subscribed(id: number, specs: readonly SubscriptionSpec[], allowed: readonly Verdict[], since: number | undefined): void {
    if (!this.session.open) return;
    const { db, log, routes, settings } = this.server;
    const { outbox } = this.session;
    const replay = since === undefined ? undefined : log.after(since, db.seq);
    const live: Route[] = [];
    specs.forEach((spec, i) => {
      const verdict = allowed[i]!;
      if (typeof verdict === 'object') {
        outbox.message({ type: 'error', id, sub: spec.sub, ...verdict });
        return;
      }
      if (!verdict) {
        outbox.message({ type: 'error', id, sub: spec.sub, code: ErrorCode.FORBIDDEN, message: `Not authorized to read ${describeSpec(spec)}.` });
        return;
      }
      if (replay === undefined && spec.tail !== true) outbox.paged(snapshotPages(db, spec, since, settings.snapshotPageBytes));
      live.push(new Route(this.session, spec));
    });
    if (replay !== undefined) {
      for (const { table, key, seq, json } of replay) {
        if (live.some((route) => route.covers(table, key))) outbox.replayed(seq, json);
      }
    }
    for (const route of live) {
      this.routes.set(route.spec.sub, route);
      routes.add(route);
    }
    outbox.message({ type: 'subscribed', id, seq: db.seq });
    this.session.answered();
  }

  private unsubscribe(id: number, numbers: readonly number[]): void {
    for (const number of numbers) {
      const route = this.routes.get(number);
      if (route === undefined) continue;
      this.routes.delete(number);
      this.server.routes.remove(route);
    }
    this.session.outbox.message({ type: 'unsubscribed', id });
    this.session.answered();
  }

  private write(id: number, ops: readonly WriteOp[], m: number | undefined, ack: number | undefined): Promise<void> | undefined {
    const client = this.session.client;
    if (m !== undefined && client === undefined) {
      this.fail(id, ErrorCode.BAD_MESSAGE, 'write: "m" needs the client id of a hello with "client".');
      return undefined;
    }
    const verdicts = ops.map((op) => this.authorized({ action: 'write', table: op.table, key: op.key }));
    const finish = (allowed: readonly boolean[]): void => {
      if (!this.session.open) return;
      const refused = allowed.indexOf(false);
      const refusal = refused === -1 ? null : new RxkvError(ErrorCode.FORBIDDEN, `Not authorized to write ${ops[refused]!.table}/${ops[refused]!.key}: nothing was written.`);
      const apply = (tx: Transaction): void => {
        for (const op of ops) applyOp(tx.table(op.table), op);
      };
      if (m === undefined && refusal !== null) {
        this.error(id, refusal);
        return;
      }
      let outcome: Promise<Outcome>;
      try {
        if (m !== undefined) outcome = this.server.ledger.write(client!, m, ack, refusal, apply);
        else {
          const { db } = this.server;
          const committed = db.transaction((tx) => {
            apply(tx);
            return { seq: tx.seq };
          });
          // A cluster's node knows the commit's seq only once applied: the seq then is at least it.
          outcome = db.cluster === undefined ? committed : committed.then(({ seq }) => ({ seq: Math.max(seq, db.seq) }));
        }
      } catch (error) {
        this.error(id, error); // the database is closed: refused at once
        return;
      }
      outcome.then(
        (settled) => {
          if (!this.session.open) return;
          this.session.outbox.message('seq' in settled ? { type: 'committed', id, seq: settled.seq } : { type: 'error', id, ...settled.error });
          this.session.answered();
        },
        (error: unknown) => this.error(id, error),
      );
    };
    return whenAll(verdicts, finish);
  }

  /** The whole database as of now, as dump pages: an `admin` action. */
  private dump(id: number): Promise<void> | undefined {
    return this.privileged(id, 'admin', () => {
      const { db, settings } = this.server;
      this.session.outbox.paged(new DumpPages(id, dumpLines(db).lines, settings.snapshotPageBytes));
    });
  }

  /** The tables and their counts, or the server's figures: an `inspect` action. */
  private inspect(id: number, what: 'tables' | 'server'): Promise<void> | undefined {
    return this.privileged(id, 'inspect', () => {
      const { db } = this.server;
      if (what === 'server') this.session.outbox.message({ type: 'inspected', id, server: this.server.stats() });
      else this.session.outbox.message({ type: 'inspected', id, tables: db.tableNames().map((name) => ({ name, records: db.table(name).size })) });
    });
  }

  /** Runs `answer` once `authorize` allows `action` on the whole database; refused without an `authorize`. */
  private privileged(id: number, action: 'admin' | 'inspect', answer: () => void): Promise<void> | undefined {
    const finish = (allowed: boolean): void => {
      if (!this.session.open) return;
      if (!allowed) {
        this.fail(id, ErrorCode.FORBIDDEN, `Not authorized: authorize must allow { action: '${action}', table: '*' }.`);
        return;
      }
      answer();
      this.session.answered();
    };
    return when(this.server.settings.authorize === undefined ? false : this.authorized({ action, table: '*' }), finish);
  }

  /** A page of a table's records with their metadata: a read of the table (of its prefix, when given). */
  private records(id: number, table: string, range: RecordsRange): Promise<void> | undefined {
    try {
      checkTableName(table);
    } catch (error) {
      this.error(id, error);
      return undefined;
    }
    const finish = (allowed: boolean): void => {
      if (!this.session.open) return;
      if (!allowed) {
        this.fail(id, ErrorCode.FORBIDDEN, `Not authorized to read table ${table}.`);
        return;
      }
      const snapshot = this.server.db.existingTable(table)?.snapshot();
      const limit = range.limit ?? MAX_RECORDS_PER_PAGE;
      const page: [string, Json, { version: number; created: number; updated: number }][] = [];
      let more = false;
      if (snapshot !== undefined) {
        for (const [key, value] of snapshot.range({ ...range, limit: limit + 1 })) {
          if (page.length === limit) {
            more = true;
            break;
          }
          page.push([key, value, snapshot.meta(key)!]);
        }
      }
      this.session.outbox.message({ type: 'records', id, records: page, more });
      this.session.answered();
    };
    return when(this.authorized({ action: 'read', table, ...(range.prefix === undefined ? {} : { prefix: range.prefix }) }), finish);
  }

  /** Asks `authorize`; a hook that throws or rejects refuses. */
  private authorized(access: Access | readonly Access[]): boolean | Promise<boolean> {
    const hook = this.server.settings.authorize;
    if (hook === undefined) return true;
    const asked = (Array.isArray(access) ? access : [access]) as readonly Access[];
    const verdicts = asked.map((one) => {
      try {
        return hook(this.session.principal, one);
      } catch {
        return false;
      }
    });
    if (verdicts.every((verdict) => typeof verdict === 'boolean')) return verdicts.every((verdict) => verdict === true);
    return Promise.all(verdicts).then(
      (all) => all.every((verdict) => verdict === true),
      () => false,
    );
  }

  /** Answers an admitted request with its error. */
  private error(id: number, error: unknown): void {
    if (!this.session.open) return;
    this.session.outbox.message({ type: 'error', id, ...describeError(error) });
    this.session.answered();
  }

  private fail(id: number, code: ErrorCode, text: string): void {
    this.error(id, new RxkvError(code, text));
  }
}

/**
 * Runs `finish` with a verdict: at once when it is known (the common case: no promise, no tick
 * lost), or once it resolves; the promise is returned so that admission waits for it.
 */
function when<T>(verdict: T | Promise<T>, finish: (verdict: T) => void): Promise<void> | undefined {
  if (!(verdict instanceof Promise)) {
    finish(verdict);
    return undefined;
  }
  return verdict.then(finish);
}

/** `when` for several verdicts, in order. */
function whenAll<T>(verdicts: readonly (T | Promise<T>)[], finish: (verdicts: readonly T[]) => void): Promise<void> | undefined {
  return when(verdicts.some((verdict) => verdict instanceof Promise) ? Promise.all(verdicts) : (verdicts as readonly T[]), finish);
}

/** One op of a client's write, inside the transaction of the whole write. */
function applyOp(table: TransactionTable, op: WriteOp): void {
  switch (op.op) {
    case 'merge':
      table.merge(op.key, op.value);
      return;
    case 'put':
      table.put(op.key, op.value as Json);
      return;
    case 'delete':
      table.delete(op.key);
      return;
  }
}

function readAccess(spec: SubscriptionSpec): Access[] {
  const { table, key, keys, prefix } = spec;
  if (key !== undefined) return [{ action: 'read', table, key }];
  if (keys !== undefined) return keys.map((one) => ({ action: 'read', table, key: one }));
  if (prefix !== undefined) return [{ action: 'read', table, prefix }];
  return [{ action: 'read', table }];
}

/**
 * A subscription's snapshot, as of now: whole, or, for a position the database can still tell
 * changes from (the deletes since are kept), only what changed since: the records of a version
 * above it, and the keys deleted since.
 */
function snapshotPages(db: Database, spec: SubscriptionSpec, since: number | undefined, pageBytes: number): SnapshotPages {
  const table = db.existingTable(spec.table);
  const snapshot = table?.snapshot();
  const deleted = since === undefined || since > db.seq ? undefined : db.deletedSince(spec.table, since);
  if (deleted === undefined) return new SnapshotPages(spec.sub, db.seq, records(snapshot, spec, 0), pageBytes);
  const keys = spec.keys === undefined ? undefined : new Set(spec.keys);
  const removed = deleted.filter((key) => covers(spec, keys, key) && snapshot?.has(key) !== true);
  return new SnapshotPages(spec.sub, db.seq, records(snapshot, spec, since!), pageBytes, removed);
}

/** The records a subscription covers of a version above `since`, read off the table's snapshot as they are paged out. */
function* records(snapshot: ReturnType<Table['snapshot']> | undefined, spec: SubscriptionSpec, since: number): Generator<readonly [string, Json]> {
  if (snapshot === undefined) return;
  for (const key of selectedKeys(spec, snapshot)) {
    const value = snapshot.get(key);
    if (value !== undefined && (since === 0 || snapshot.meta(key)!.version > since)) yield [key, value];
  }
}

function describeSpec(spec: SubscriptionSpec): string {
  if (spec.table === EVERY_TABLE) return spec.prefix === undefined ? 'every table' : `the keys ${spec.prefix}* of every table`;
  if (spec.key !== undefined) return `${spec.table}/${spec.key}`;
  if (spec.keys !== undefined) return `keys of ${spec.table}`;
  if (spec.prefix !== undefined) return `${spec.table}/${spec.prefix}*`;
  return `table ${spec.table}`;
}
