import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import type { Database } from '../database.js';
import { checkTableName } from '../engine/arguments.js';
import type { Change } from '../engine/change.js';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import {
  CloseCode,
  MAX_KEYS_PER_SUBSCRIPTION,
  PROTOCOL_VERSION,
  type ClientMessage,
  type ServerMessage,
  type SubscriptionSpec,
  type WriteOp,
} from '../sync/protocol.js';
import type { ChangeLog } from './change-log.js';
import { BadMessage, parseClientMessage } from './messages.js';
import type { Access, Settings } from './options.js';
import { Subscription, type Receiver, type Routes } from './routes.js';
import { Outbox } from './outbox.js';
import type { Slicer } from './slicer.js';
import { SnapshotPages } from './snapshot-pages.js';

/** What a connection needs of the server it belongs to. */
export interface Host {
  readonly db: Database;
  readonly settings: Settings;
  readonly routes: Routes;
  readonly log: ChangeLog;
  readonly slicer: Slicer;
  closed(connection: Connection): void;
}

/** Requests admitted but not answered yet, beyond which the connection stops reading. */
const MAX_IN_FLIGHT = 256;
/** How long a client has to answer the server's close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** Whether a subscription may go ahead, or why not when it is refused for something else than `authorize`. */
type Verdict = boolean | { readonly code: string; readonly message: string };
type Request = Exclude<ClientMessage, { type: 'hello' | 'ping' }>;

/**
 * One client: its hello, its subscriptions and its requests, and everything sent to it, in the
 * order it happened. Requests are admitted in the order they came (an async `authorize` must not
 * reorder two writes), but a write's durability is awaited without holding up the next request.
 */
export class Connection implements Receiver {
  private phase: 'hello' | 'authenticating' | 'open' | 'closed' = 'hello';
  private principal: unknown = null;
  private readonly subscriptions = new Map<number, Subscription>();
  private readonly outbox: Outbox;
  /** The admission of earlier requests, while one waits for `authorize`. */
  private admitting: Promise<void> | null = null;
  private inFlight = 0;
  /**
   * Messages that came right behind the hello, while `authenticate` runs: pausing the socket stops
   * reading, not the messages of what was read already. Taken once open, dropped if refused.
   */
  private early: [RawData, boolean][] = [];
  private readonly helloTimer: ReturnType<typeof setTimeout>;
  /** Cleared by each heartbeat, set by the client's pong. */
  alive = true;

  constructor(
    private readonly socket: WebSocket,
    private readonly request: IncomingMessage,
    private readonly host: Host,
  ) {
    this.outbox = new Outbox(socket, host.settings, host.slicer, {
      behind: () => socket.pause(),
      caughtUp: () => {
        if (this.inFlight < MAX_IN_FLIGHT) socket.resume();
      },
      tooSlow: () => this.close(CloseCode.TOO_SLOW, 'too far behind'),
    });
    this.helloTimer = setTimeout(() => this.close(CloseCode.HELLO_TIMEOUT, 'no hello in time'), host.settings.helloTimeout);
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('pong', () => (this.alive = true));
    socket.on('close', () => this.closed());
    socket.on('error', () => socket.terminate());
  }

  /** Sends a change a subscription of this connection covers. */
  deliver(change: Change, json: string): void {
    this.outbox.change(change, json);
  }

  /** Heartbeat: drops a client that did not answer the last ping. */
  ping(): void {
    if (this.phase === 'authenticating' || this.outbox.behind) {
      // Not read while `authenticate` runs or while it is behind (the hello timeout and the stall
      // timeout bound those): its pong waits unread.
      this.alive = true;
      return;
    }
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
  }

  close(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    // Read again, to see the client's close frame; a client that does not answer is cut off.
    this.socket.resume();
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
    this.closed();
  }

  private closed(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.helloTimer);
    this.outbox.close();
    for (const subscription of this.subscriptions.values()) this.host.routes.remove(subscription);
    this.subscriptions.clear();
    this.early = [];
    this.host.closed(this);
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'authenticating') {
      this.early.push([data, isBinary]);
      return;
    }
    let parsed: ClientMessage;
    try {
      if (isBinary) throw new BadMessage(null, 'Messages are JSON text, not binary.');
      parsed = parseClientMessage(data.toString());
    } catch (error) {
      // Never admitted, so not counted as unanswered: its reply must not count as an answer either.
      if (this.phase !== 'open') this.close(CloseCode.BAD_HELLO, 'expected a hello');
      else this.send(errorMessage(error instanceof BadMessage ? error.id : null, error));
      return;
    }
    if (this.phase === 'hello') {
      if (parsed.type === 'hello') void this.hello(parsed.v, parsed.token);
      else this.close(CloseCode.BAD_HELLO, 'expected a hello');
    } else if (parsed.type === 'hello') {
      this.send(errorMessage(null, new RxkvError(ErrorCode.BAD_MESSAGE, 'hello: this connection already said hello.')));
    } else if (parsed.type === 'ping') {
      this.alive = true;
      this.send({ type: 'pong' });
    } else {
      this.admit(parsed);
    }
  }

  private async hello(version: number, token: string | undefined): Promise<void> {
    if (version !== PROTOCOL_VERSION) {
      this.close(CloseCode.BAD_HELLO, `protocol version ${version} is not spoken here (${PROTOCOL_VERSION} is)`);
      return;
    }
    this.phase = 'authenticating';
    this.socket.pause();
    const { authenticate } = this.host.settings;
    let principal: unknown = true;
    if (authenticate !== undefined) {
      try {
        principal = await authenticate({ token, request: this.request });
      } catch {
        principal = null;
      }
    }
    if ((this.phase as Connection['phase']) === 'closed') return;
    if (principal === null || principal === undefined || principal === false) {
      this.close(CloseCode.UNAUTHORIZED, 'authentication refused');
      return;
    }
    clearTimeout(this.helloTimer);
    this.principal = principal;
    this.phase = 'open';
    this.socket.resume();
    this.send({ type: 'welcome', v: PROTOCOL_VERSION, seq: this.host.db.seq, maxMessageBytes: this.host.settings.maxMessageBytes });
    const early = this.early;
    this.early = [];
    for (const [data, isBinary] of early) this.receive(data, isBinary);
  }

  /** Takes requests in order: one waiting for an async `authorize` holds up those after it. */
  private admit(request: Request): void {
    this.inFlight++;
    if (this.inFlight === MAX_IN_FLIGHT) this.socket.pause();
    if (this.admitting !== null) {
      this.chain(this.admitting.then(() => this.start(request)));
      return;
    }
    const waiting = this.start(request);
    if (waiting !== undefined) this.chain(waiting);
  }

  private chain(admission: Promise<void>): void {
    const settled = admission.catch(() => undefined);
    this.admitting = settled;
    void settled.then(() => {
      if (this.admitting === settled) this.admitting = null;
    });
  }

  private answered(): void {
    this.inFlight--;
    if (this.inFlight === MAX_IN_FLIGHT / 2 && !this.outbox.behind && this.phase === 'open') this.socket.resume();
  }

  /** Returns a promise when admission waits for `authorize`. */
  private start(request: Request): Promise<void> | undefined {
    if (this.phase === 'closed') return undefined;
    switch (request.type) {
      case 'subscribe':
        return this.subscribe(request.id, request.subs, request.since);
      case 'unsubscribe':
        this.unsubscribe(request.id, request.subs);
        return undefined;
      case 'write':
        return this.write(request.id, request.ops);
    }
  }

  private subscribe(id: number, specs: readonly SubscriptionSpec[], since: number | undefined): Promise<void> | undefined {
    const numbers = new Set(specs.map((spec) => spec.sub));
    if (numbers.size !== specs.length || specs.some((spec) => this.subscriptions.has(spec.sub))) {
      this.fail(id, ErrorCode.BAD_MESSAGE, 'subscribe: each "sub" must be a number not in use on this connection.');
      return undefined;
    }
    const room = this.host.settings.maxSubscriptions - this.subscriptions.size;
    const verdicts = specs.map((spec, i) => this.refusal(spec, i < room) ?? this.authorized(readAccess(spec)));
    const finish = (allowed: readonly Verdict[]): void => this.subscribed(id, specs, allowed, since);
    if (!verdicts.some((verdict) => verdict instanceof Promise)) {
      finish(verdicts as Verdict[]);
      return undefined;
    }
    return Promise.all(verdicts).then(finish);
  }

  /** Why a subscription is refused before `authorize` is asked, if it is: each is refused alone. */
  private refusal(spec: SubscriptionSpec, hasRoom: boolean): Verdict | undefined {
    if (!hasRoom) return { code: ErrorCode.LIMIT_EXCEEDED, message: `At most ${this.host.settings.maxSubscriptions} subscriptions per connection.` };
    if (spec.keys !== undefined && spec.keys.length > MAX_KEYS_PER_SUBSCRIPTION) {
      return { code: ErrorCode.LIMIT_EXCEEDED, message: `At most ${MAX_KEYS_PER_SUBSCRIPTION} keys per subscription (this one has ${spec.keys.length}): split them over several.` };
    }
    try {
      checkTableName(spec.table);
    } catch (error) {
      return describeError(error);
    }
    return undefined;
  }

  /** Snapshots (or the replay since `since`) and going live, in one step: nothing falls between. */
  private subscribed(id: number, specs: readonly SubscriptionSpec[], allowed: readonly Verdict[], since: number | undefined): void {
    if (this.phase === 'closed') return;
    const { db, log, routes } = this.host;
    const replay = since === undefined ? undefined : log.after(since, db.seq);
    const live: Subscription[] = [];
    specs.forEach((spec, i) => {
      const verdict = allowed[i]!;
      if (typeof verdict === 'object') {
        this.send({ type: 'error', id, sub: spec.sub, ...verdict });
        return;
      }
      if (!verdict) {
        this.send({ type: 'error', id, sub: spec.sub, code: ErrorCode.FORBIDDEN, message: `Not authorized to read ${describe(spec)}.` });
        return;
      }
      if (replay === undefined) this.outbox.snapshot(new SnapshotPages(spec.sub, db.seq, records(db, spec), this.host.settings.snapshotPageBytes));
      live.push(new Subscription(this, spec));
    });
    if (replay !== undefined) {
      for (const { table, key, seq, json } of replay) {
        if (live.some((subscription) => subscription.covers(table, key))) this.outbox.replayed(seq, json);
      }
    }
    for (const subscription of live) {
      this.subscriptions.set(subscription.spec.sub, subscription);
      routes.add(subscription);
    }
    this.send({ type: 'subscribed', id, seq: db.seq });
    this.answered();
  }

  private unsubscribe(id: number, numbers: readonly number[]): void {
    for (const number of numbers) {
      const subscription = this.subscriptions.get(number);
      if (subscription === undefined) continue;
      this.subscriptions.delete(number);
      this.host.routes.remove(subscription);
    }
    this.send({ type: 'unsubscribed', id });
    this.answered();
  }

  private write(id: number, ops: readonly WriteOp[]): Promise<void> | undefined {
    const verdicts = ops.map((op) => this.authorized({ action: 'write', table: op.table, key: op.key }));
    const finish = (allowed: readonly boolean[]): void => {
      if (this.phase === 'closed') return;
      const refused = allowed.indexOf(false);
      if (refused !== -1) {
        const op = ops[refused]!;
        this.fail(id, ErrorCode.FORBIDDEN, `Not authorized to write ${op.table}/${op.key}: nothing was written.`);
        return;
      }
      let committed: Promise<number>;
      try {
        committed = this.host.db.transaction((tx) => {
          for (const op of ops) {
            const table = tx.table(op.table);
            if (op.op === 'merge') table.merge(op.key, op.value);
            else if (op.op === 'put') table.put(op.key, op.value as Json);
            else table.delete(op.key);
          }
          return tx.seq;
        });
      } catch (error) {
        this.error(id, error); // the database is closed: refused at once
        return;
      }
      committed.then(
          (seq) => {
            if (this.phase === 'closed') return;
            this.send({ type: 'committed', id, seq });
            this.answered();
          },
          (error: unknown) => this.error(id, error),
        );
    };
    if (verdicts.every((verdict) => typeof verdict === 'boolean')) {
      finish(verdicts as boolean[]);
      return undefined;
    }
    return Promise.all(verdicts).then(finish);
  }

  /** Asks `authorize`; a hook that throws or rejects refuses. */
  private authorized(access: Access | readonly Access[]): boolean | Promise<boolean> {
    const hook = this.host.settings.authorize;
    if (hook === undefined) return true;
    const asked = (Array.isArray(access) ? access : [access]) as readonly Access[];
    const verdicts = asked.map((one) => {
      try {
        return hook(this.principal, one);
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
    if (this.phase === 'closed') return;
    this.send(errorMessage(id, error));
    this.answered();
  }

  private fail(id: number, code: ErrorCode, text: string): void {
    this.error(id, new RxkvError(code, text));
  }

  private send(value: ServerMessage): void {
    this.outbox.message(value);
  }
}

function readAccess(spec: SubscriptionSpec): Access[] {
  const { table, key, keys, prefix } = spec;
  if (key !== undefined) return [{ action: 'read', table, key }];
  if (keys !== undefined) return keys.map((one) => ({ action: 'read', table, key: one }));
  if (prefix !== undefined) return [{ action: 'read', table, prefix }];
  return [{ action: 'read', table }];
}

/** The records a subscription covers, as of now: read off the table's snapshot, as they are paged out. */
function records(db: Database, spec: SubscriptionSpec): Iterator<readonly [string, Json]> {
  const table = db.existingTable(spec.table);
  if (table === undefined) return [][Symbol.iterator]();
  const snapshot = table.snapshot();
  if (spec.key === undefined && spec.keys === undefined) return snapshot.range(spec.prefix === undefined ? {} : { prefix: spec.prefix });
  return (function* () {
    for (const key of spec.key !== undefined ? [spec.key] : spec.keys!) {
      const value = snapshot.get(key);
      if (value !== undefined) yield [key, value] as const;
    }
  })();
}

function describe(spec: SubscriptionSpec): string {
  if (spec.key !== undefined) return `${spec.table}/${spec.key}`;
  if (spec.keys !== undefined) return `keys of ${spec.table}`;
  if (spec.prefix !== undefined) return `${spec.table}/${spec.prefix}*`;
  return `table ${spec.table}`;
}

function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof RxkvError) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: 'The server failed to handle this request.' };
}

function errorMessage(id: number | null, error: unknown): ServerMessage {
  return { type: 'error', id, ...describeError(error) };
}
