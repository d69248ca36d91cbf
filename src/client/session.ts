import { Subject } from 'rxjs';
import { ErrorCode, RxkvError } from '../errors.js';
import { deepFreeze } from '../json/freeze.js';
import type { Json } from '../json/types.js';
import { toFrozenJson } from '../json/validate.js';
import { uuid } from '../model/uuid.js';
import type { ServerMessage, SubscriptionFilter, WireChange, WriteOp } from '../sync/protocol.js';
import { utf8Length } from '../sync/size.js';
import { OptimisticWrite, PendingWrites } from './optimistic.js';
import { Persistence, type PersistedReplica } from './persistence.js';
import { Feed, ServerSub, TableReplica, type SubscriptionObserver } from './replica.js';
import type { ReplicaStore, StoredReplica, StoredSubscription } from './store.js';
import { Tail } from './tail.js';
import { Transport, type Status, type TransportOptions, type WebSocketConstructor } from './transport.js';
import { WriteQueue, type PendingWrite } from './write-queue.js';

type Request =
  | { readonly kind: 'write'; readonly write: PendingWrite }
  | { readonly kind: 'dump'; readonly lines: LineChannel }
  | { readonly kind: 'ask'; readonly resolve: (answer: ServerMessage) => void; readonly reject: (error: unknown) => void }
  | { readonly kind: 'subscribe'; readonly subs: readonly ServerSub[] }
  | { readonly kind: 'tail'; readonly tail: Tail }
  | { readonly kind: 'unsubscribe' };

/** Close code the client uses when its replica cannot apply a patch: it reconnects for fresh snapshots. */
const DIVERGED = 4000;

/** The bytes of a `subscribe` message around its `subs` and history, at most (ids and seqs of any size). */
const SUBSCRIBE_ENVELOPE = utf8Length(JSON.stringify({ type: 'subscribe', id: Number.MAX_SAFE_INTEGER, subs: [], since: Number.MAX_SAFE_INTEGER, history: '' }));

/** How long a write may wait for its outcome, by default: offline or not, it then rejects with `TIMEOUT`. */
const DEFAULT_WRITE_TIMEOUT = 30_000;
/** Writes without an outcome a client holds, by default (offline, say), beyond which a new one is refused. */
const DEFAULT_MAX_PENDING_WRITES = 10_000;
/** How long a persisted replica keeps a subscription once its last stream left (while connected; offline, until connected). */
const LINGER_MS = 2000;
/** The JSON a persisted replica's store may hold, by default. */
const DEFAULT_MAX_STORED_BYTES = 50 * 1024 * 1024;

export interface SessionOptions extends TransportOptions {
  /**
   * How long a write may wait for the server's answer, in ms (default 30 s, or 0 with `persist`;
   * 0: forever), across reconnects. Past it, it rejects with `TIMEOUT`: applied at most once,
   * maybe not at all.
   */
  writeTimeout?: number;
  /**
   * Keep the replica in this store (`indexedDbStore(name)` in the browser, `fileStore(path)` or
   * `memoryStore()` in Node): its records, positions and pending writes outlive the client. A new
   * client on the same store shows them at once, offline too, then resumes from its position and
   * sends the pending writes, each applied once.
   */
  persist?: ReplicaStore;
  /** The most JSON the store holds, in bytes (default 50 MiB): see `connect`. */
  maxStoredBytes?: number;
  /**
   * Show every write at once, before the server confirms it (default false: a write shows once
   * committed). Each write can say otherwise (`{ optimistic }`). See `RemoteTable.merge`.
   */
  optimistic?: boolean;
  /**
   * The most writes waiting for the server's answer (default 10,000): one more rejects at once
   * with `LIMIT_EXCEEDED`, nothing sent or shown.
   */
  maxPendingWrites?: number;
}

/**
 * The replica's side of the protocol, over whatever connection the transport holds: the tables'
 * replicas and their subscriptions on the server, resumed on every new connection from where each
 * got to, and the writes waiting for their `committed`.
 */
export class ReplicaSession {
  readonly transport: Transport;
  private readonly tables = new Map<string, TableReplica>();
  private readonly subsByNumber = new Map<number, ServerSub>();
  /** The change streams without a replica (`RemoteDatabase.changes`), by subscription number. */
  private readonly tails = new Map<number, Tail>();
  /** What the current connection has delivered (shared by every table's replica). */
  private readonly feed = new Feed();
  /** Requests sent on the current connection and not answered yet. */
  private readonly pending = new Map<number, Request>();
  /** The writes without an outcome: sent on every new connection until they have one. */
  private readonly writes: WriteQueue;
  /** The optimistic writes the replica shows, until the server's state it shows includes them. */
  readonly optimistic = new PendingWrites();
  private readonly optimisticByDefault: boolean;
  private readonly maxPendingWrites: number;
  private nextRequest = 1;
  private nextSub = 1;
  /** The newest seq seen, snapshots included. */
  private seenSeq = 0;
  /** The history the positions are in: that of the last welcome. */
  private history: string | undefined = undefined;
  /** The replica could not apply a patch: the next connection takes fresh snapshots instead of resuming. */
  private diverged = false;
  /** The largest message the server takes (told in its welcome). */
  private maxMessageBytes = Number.POSITIVE_INFINITY;
  private ended: Promise<void> | null = null;
  /** One-off requests (dumps, questions) made before the connection was welcomed: sent once it is. */
  private waiting: { send(): void; fail(error: unknown): void }[] = [];
  /** The store of a persisted replica (null: the replica lives in memory). */
  private readonly persistence: Persistence | null = null;
  /** The store is being read: nothing is sent, and writes wait (their mutation numbers follow the stored ones). */
  private loading: Promise<void> | null = null;
  /** Set once ending: the writes rejected then stay in the store, for the next client on it. */
  private ending = false;
  /** The store was loaded: it is this client's until it ends. */
  private storeHeld = false;
  /** What ended the client, when it did not close: every later request fails with it. */
  private failure: RxkvError | null = null;
  /** Waiting for `drained`. */
  private readonly onDrained: (() => void)[] = [];
  /** Failures no caller can be told of (`RemoteDatabase.errors$`). */
  readonly errors = new Subject<RxkvError>();

  constructor(url: string, options: SessionOptions, WebSocket: WebSocketConstructor) {
    const store = options.persist;
    this.writes = new WriteQueue(options.writeTimeout ?? (store === undefined ? DEFAULT_WRITE_TIMEOUT : 0));
    this.optimisticByDefault = options.optimistic ?? false;
    this.maxPendingWrites = options.maxPendingWrites ?? DEFAULT_MAX_PENDING_WRITES;
    // The server applies each write of this id once: a new id per client, since its mutation numbers start at 1.
    this.transport = new Transport(url, options, uuid(), WebSocket, {
      message: (message) => this.receive(message),
      lost: () => this.lost(),
      refused: (reason) => void this.stop({ state: 'refused', reason }, new RxkvError(ErrorCode.UNAUTHORIZED, `The server refused this client: ${reason}.`)),
    });
    if (store === undefined) {
      this.transport.connect();
      return;
    }
    const persistence = (this.persistence = new Persistence(store, options.maxStoredBytes ?? DEFAULT_MAX_STORED_BYTES, this.persisted()));
    persistence.errors.subscribe((error) => this.errors.next(error));
    this.loading = store.load().then(
      (state) => {
        this.loading = null;
        this.storeHeld = true;
        this.restore(state);
        if (this.ended === null) this.transport.connect();
      },
      (error: unknown) => {
        this.loading = null;
        const failure = error instanceof RxkvError ? error : new RxkvError(ErrorCode.STORE_FAILED, `The replica's store could not be read: ${(error as Error)?.message ?? String(error)}.`, { cause: error });
        void this.stop({ state: 'refused', reason: failure.message }, failure);
      },
    );
  }

  /** The seq of the newest state the replica shows. */
  get seq(): number {
    return this.seenSeq;
  }

  /** The replica of a table (a checked name), made on first use. */
  replica(name: string): TableReplica {
    let replica = this.tables.get(name);
    if (replica === undefined) {
      const persistence = this.persistence;
      const changed = persistence === null ? undefined : (table: string, key: string) => persistence.recordChanged(table, key);
      this.tables.set(name, (replica = new TableReplica(name, this.feed, this.optimistic, changed)));
    }
    return replica;
  }

  /** Ends the session: streams complete, writes not yet acknowledged reject (`CLIENT_CLOSED`). */
  close(): Promise<void> {
    return this.stop({ state: 'closed' }, undefined);
  }

  /** Attaches an observer to the server subscription of `filter` (shared by every observer of the same one); returns the detach. */
  attach(replica: TableReplica, filter: SubscriptionFilter, observer: SubscriptionObserver): () => void {
    const { state, reason } = this.transport.status;
    if (state === 'closed' || state === 'refused') {
      observer.end(state === 'closed' ? undefined : this.refusal(reason));
      return () => undefined;
    }
    if (filter.keys !== undefined && filter.keys.length === 0) {
      observer.live(); // covers no record: nothing to ask the server
      return () => undefined;
    }
    const id = canonical(filter);
    let sub = replica.subs.get(id);
    const created = sub === undefined;
    if (sub === undefined) {
      sub = new ServerSub(this.nextSub++, replica, filter);
      replica.subs.set(id, sub);
      this.subsByNumber.set(sub.number, sub);
    }
    const attached = sub;
    attached.observers.add(observer);
    if (attached.live) observer.live();
    else if (created && this.transport.ready) this.subscribe([attached], false);
    return () => {
      if (!attached.observers.delete(observer) || attached.observers.size > 0) return;
      // A persisted replica keeps what it stores a while: a stream taken up again soon (a view shown again) finds it, offline too.
      if (this.persistence === null) this.drop(attached);
      else {
        const later = setTimeout(() => this.transport.ready && attached.observers.size === 0 && this.subsByNumber.get(attached.number) === attached && this.drop(attached), LINGER_MS);
        (later as { unref?: () => void }).unref?.(); // no reason for a Node process to stay
      }
    };
  }

  /** Forgets a subscription no stream holds any more, and ends it on the server (offline, the next connection does not take it up). */
  private drop(sub: ServerSub): void {
    this.forget(sub);
    if (this.transport.ready) this.request({ kind: 'unsubscribe' }, (id) => ({ type: 'unsubscribe', id, subs: [sub.number] }));
  }

  /**
   * Follows the changes of `table` (`'*'`: every table), of keys starting with `prefix`, from now:
   * on the server, without a snapshot. After a drop it resumes from the last seq it delivered, with
   * what the server's log still holds. Returns the detach.
   */
  tail(table: string, prefix: string | undefined, next: (change: WireChange) => void, end: (error: RxkvError | undefined) => void): () => void {
    const { state, reason } = this.transport.status;
    if (state === 'closed' || state === 'refused') {
      end(state === 'closed' ? undefined : this.refusal(reason));
      return () => undefined;
    }
    const tail = new Tail(this.nextSub++, table, prefix, next, end);
    this.tails.set(tail.number, tail);
    if (this.transport.ready) this.sendTail(tail, false);
    return () => {
      if (!this.tails.delete(tail.number)) return;
      if (this.transport.ready) this.request({ kind: 'unsubscribe' }, (id) => ({ type: 'unsubscribe', id, subs: [tail.number] }));
    };
  }

  /**
   * Sends a write (now, or once connected, again on each reconnect until answered); resolves to its
   * seq once durable on the server. An `optimistic` one shows in the replica at once.
   */
  write(ops: readonly WriteOp[], optimistic = this.optimisticByDefault): Promise<number> {
    if (this.loading !== null) {
      // Copied now: the caller may change its objects while the store is read.
      const copied = ops.map(frozenOp);
      // Closed meanwhile, it is still stored (the client ends only once the store was read).
      return this.loading.then(() => this.write(copied, optimistic));
    }
    return new Promise((resolve, reject) => {
      const { state, reason } = this.transport.status;
      if (state === 'closed') reject(new RxkvError(ErrorCode.CLIENT_CLOSED, 'This client was closed: nothing more can be written.'));
      else if (state === 'refused') reject(this.refusal(reason));
      else if (this.writes.size >= this.maxPendingWrites) {
        reject(new RxkvError(ErrorCode.LIMIT_EXCEEDED, `${this.writes.size} writes already wait for the server's answer (maxPendingWrites): this one was not sent.`));
      } else {
        const { persistence } = this;
        let bytes = 0;
        try {
          bytes = persistence?.checkRoom(ops) ?? 0;
        } catch (error) {
          reject(error);
          return;
        }
        // What is shown or stored must not change with the caller's objects; what is sent at once is encoded at once.
        const kept = optimistic || persistence !== null ? ops.map(frozenOp) : ops;
        const write = this.track(kept, optimistic, resolve, reject);
        if (persistence === null) {
          if (this.transport.ready) this.sendWrite(write);
          return;
        }
        write.stored = false;
        persistence.addWrite({ m: write.m, ops: kept, optimistic }, bytes).then(
          () => {
            write.stored = true;
            if (!write.settled && this.transport.ready) this.sendWrite(write);
          },
          (error: unknown) => this.writes.reject(write, error),
        );
      }
    });
  }

  /** Resolves once no write waits for its outcome (those restored from the store included). */
  async drained(): Promise<void> {
    await this.loading;
    if (this.writes.size === 0) return;
    await new Promise<void>((resolve) => this.onDrained.push(resolve));
  }

  /** Queues a write (a new one, or one `restored` from the store, `m` its number) and shows it when `optimistic`. */
  private track(ops: readonly WriteOp[], optimistic: boolean, resolve: (seq: number) => void, reject: (error: unknown) => void, restored?: number): PendingWrite {
    let shown: OptimisticWrite | null = null;
    const settled = (seq: number): void => {
      if (shown !== null) this.confirmed(shown, seq);
      else this.persistence?.removeWrite(write.m);
      resolve(seq);
    };
    const after =
      <A>(outcome: (argument: A) => void) =>
      (argument: A): void => {
        outcome(argument);
        if (this.writes.size === 0) for (const resolve of this.onDrained.splice(0)) resolve();
      };
    const failed = (error: unknown): void => {
      // Ending: rejected here, but kept in the store for the next client on it.
      if (!this.ending) {
        if (shown !== null) this.withdraw(shown);
        this.persistence?.removeWrite(write.m);
      }
      reject(error);
    };
    const write = restored === undefined ? this.writes.add(ops, after(settled), after(failed)) : this.writes.restore(restored, ops, after(settled), after(failed));
    if (optimistic) {
      shown = new OptimisticWrite(ops, write.m);
      this.show(shown);
    }
    return write;
  }

  /** The server's dump (an `admin` request), line by line: the header first, then the records. */
  dump(): AsyncIterable<string> {
    const lines = new LineChannel();
    this.once({ send: () => this.request({ kind: 'dump', lines }, (id) => ({ type: 'dump', id })), fail: (error) => lines.fail(error) });
    return lines;
  }

  /** A question whose answer is one message (`inspect`, `records`): not asked again after a drop. */
  ask(build: (id: number) => object): Promise<ServerMessage> {
    return new Promise((resolve, reject) => this.once({ send: () => this.request({ kind: 'ask', resolve, reject }, build), fail: reject }));
  }

  /** A one-off request: sent now when connected, else once welcomed; failed at once when the client has ended. */
  private once(request: { send(): void; fail(error: unknown): void }): void {
    const { state, reason } = this.transport.status;
    if (state === 'closed') request.fail(new RxkvError(ErrorCode.CLIENT_CLOSED, 'This client was closed.'));
    else if (state === 'refused') request.fail(this.refusal(reason));
    else if (this.transport.ready) request.send();
    else this.waiting.push(request);
  }

  private receive(message: ServerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.maxMessageBytes = message.maxMessageBytes;
        return this.welcome(message.history);
      case 'snapshot':
        return this.snapshotPage(message.sub, message.records, message.seq, message.last, message.removed);
      case 'changes':
        return this.applyChanges(message.changes);
      case 'subscribed': {
        const request = this.pending.get(message.id);
        this.answered(message.id);
        if (request?.kind === 'subscribe') {
          for (const sub of request.subs) if (this.subsByNumber.get(sub.number) === sub) sub.sync(message.seq);
        }
        if (request?.kind === 'tail' && message.seq > request.tail.seq) request.tail.seq = message.seq;
        this.reached(message.seq);
        this.resumedAll();
        return this.settleReflected();
      }
      case 'unsubscribed':
        return this.answered(message.id);
      case 'committed': {
        const request = this.pending.get(message.id);
        this.answered(message.id);
        if (request?.kind === 'write') this.writes.resolve(request.write, message.seq);
        return;
      }
      case 'pong':
        return;
      case 'inspected':
      case 'records': {
        const request = this.pending.get(message.id);
        this.answered(message.id);
        if (request?.kind === 'ask') request.resolve(message);
        return;
      }
      case 'dump': {
        const request = this.pending.get(message.id);
        if (request?.kind !== 'dump') return;
        request.lines.push(message.lines.map((line) => JSON.stringify(line)));
        if (message.last) {
          this.answered(message.id);
          request.lines.end();
        }
        return;
      }
      case 'error':
        return this.failed(message.id, message.sub, new RxkvError(message.code as ErrorCode, message.message));
    }
  }

  private welcome(history: string): void {
    const continued = this.history === undefined || this.history === history;
    if (!continued) this.forgetPositions();
    this.history = history;
    // Subscriptions restored from the store that no stream took up again are not resumed.
    for (const sub of [...this.subsByNumber.values()]) if (sub.observers.size === 0) this.forget(sub);
    const subs = [...this.subsByNumber.values()];
    const live = subs.filter((sub) => sub.live);
    const fresh = subs.filter((sub) => !sub.live);
    if (live.length > 0) this.subscribe(live, continued && !this.diverged);
    if (fresh.length > 0) this.subscribe(fresh, false);
    this.diverged = false;
    for (const tail of this.tails.values()) this.sendTail(tail, continued);
    for (const write of this.writes.all()) if (write.stored) this.sendWrite(write);
    const waiting = this.waiting;
    this.waiting = [];
    for (const request of waiting) request.send();
    if (this.pending.size === 0) this.transport.answered();
  }

  /**
   * A page of a subscription's snapshot: kept until the last one, then applied as a whole (with
   * `removed`, the last page of a partial one: only what changed since the position resumed from).
   */
  private snapshotPage(number: number, records: readonly (readonly [string, Json])[], seq: number, last: boolean, removed: readonly string[] | undefined): void {
    const sub = this.subsByNumber.get(number);
    if (sub === undefined) return; // dropped since it was asked for
    if (!last) {
      const pages = (sub.pages ??= []);
      for (const record of records) pages.push(record);
      return;
    }
    const all = sub.pages === null ? records : sub.pages.concat(records);
    sub.pages = null;
    sub.table.applySnapshot(sub, all, seq, removed);
    sub.sync(seq);
    this.reached(seq);
    sub.table.notifyApplied();
    this.resumedAll();
    this.settleReflected();
  }

  private applyChanges(changes: readonly WireChange[]): void {
    const touched = new Set<TableReplica>();
    let newest = 0;
    if (this.tails.size > 0) this.deliverToTails(changes);
    for (const change of changes) {
      const replica = this.tables.get(change.table);
      if (replica === undefined) continue;
      if (!replica.apply(change)) {
        // Cannot happen between this client and an rxkv server; if it does, start over from snapshots.
        this.diverged = true;
        this.transport.restart(DIVERGED, 'replica diverged');
        break;
      }
      touched.add(replica);
      if (change.seq > newest) newest = change.seq;
    }
    // A run of changes is never cut inside a seq: after the message, every change up to its newest came.
    this.reached(newest);
    for (const replica of touched) replica.notifyApplied();
    this.settleReflected();
  }

  /** Hands a message's changes to the tails that cover them, skipping those one had (a replay). */
  private deliverToTails(changes: readonly WireChange[]): void {
    for (const tail of [...this.tails.values()]) {
      const after = tail.seq;
      for (const change of changes) {
        if (change.seq <= after || !tail.covers(change)) continue;
        if (change.seq > tail.seq) tail.seq = change.seq;
        tail.next(change);
        if (!this.tails.has(tail.number)) break; // its observer left
      }
    }
  }

  /**
   * Takes up what an earlier client left in the store: its client id and mutation numbers, its
   * records and the positions they reflect (live at once: streams show them, offline too; resumed
   * from there once connected), and its pending writes (shown again when optimistic, and sent).
   */
  private restore(state: StoredReplica | undefined): void {
    if (state === undefined) return;
    this.transport.client = state.client;
    this.writes.startAt(state.nextMutation);
    this.history = state.history;
    for (const [table, key, value] of state.records) this.replica(table).restore(key, deepFreeze(value));
    const restored: ServerSub[] = [];
    for (const { table, filter, seq } of state.subscriptions) {
      const replica = this.replica(table);
      const id = canonical(filter);
      let sub = replica.subs.get(id);
      if (sub === undefined) {
        replica.subs.set(id, (sub = new ServerSub(this.nextSub++, replica, filter)));
        this.subsByNumber.set(sub.number, sub);
      }
      sub.restoreAt(seq);
      restored.push(sub);
      if (seq > this.seenSeq) this.seenSeq = seq;
    }
    for (const stored of state.writes) {
      const ops = stored.ops.map(frozenOp);
      if (stored.seq === undefined) {
        // Its caller is gone: a refusal is told on `errors$` (its rollback shows in the streams).
        this.track(ops, stored.optimistic, () => undefined, (error) => {
          if (!this.ending) this.errors.next(new RxkvError((error as RxkvError).code ?? ErrorCode.INTERNAL, `A write restored from the store (mutation ${stored.m}) failed: ${(error as Error).message}`, { cause: error }));
        }, stored.m);
      } else {
        // Committed already: shown until the replica reflects its seq.
        const shown = new OptimisticWrite(ops, stored.m);
        shown.seq = stored.seq;
        this.show(shown);
      }
    }
    this.persistence!.loaded(state.records, state.writes);
    // Live only now, with the pending writes on: a stream's first value shows both.
    if (restored.length > 0) this.feed.resuming = true;
    for (const sub of restored) {
      sub.live = true;
      for (const observer of sub.observers) observer.live();
    }
  }

  /** The replica as its store keeps it. */
  private persisted(): PersistedReplica {
    return {
      client: () => this.transport.client,
      nextMutation: () => this.writes.nextMutation,
      steady: () => {
        if (this.history === undefined || this.feed.resuming) return undefined;
        const subscriptions: StoredSubscription[] = [];
        for (const sub of this.subsByNumber.values()) {
          if (!sub.live) continue;
          if (!sub.synced) return undefined;
          subscriptions.push({ table: sub.table.name, filter: sub.filter, seq: sub.seq });
        }
        return { history: this.history, subscriptions };
      },
      record: (table, key) => this.tables.get(table)?.records.get(key),
      records: () => [...this.tables.values()].flatMap((replica) => [...replica.records].map(([key, value]) => [replica.name, key, value] as const)),
    };
  }

  /** Shows an optimistic write: every record it touches, rebased with it on top. */
  private show(write: OptimisticWrite): void {
    this.optimistic.add(write);
    this.rebase(write);
    this.optimistic.announce();
  }

  /** The server committed an optimistic write as `seq`: it is let go once the replica shows that seq. */
  private confirmed(write: OptimisticWrite, seq: number): void {
    write.seq = seq;
    if (this.reflects(write)) this.withdraw(write);
    else this.persistence?.putWrite({ m: write.m, ops: write.ops, optimistic: true, seq });
  }

  /** Stops showing an optimistic write (the replica has its commit, or it failed: then its records go back). */
  private withdraw(write: OptimisticWrite): void {
    if (!this.optimistic.remove(write)) return;
    this.persistence?.removeWrite(write.m);
    this.rebase(write);
    this.optimistic.announce();
  }

  /**
   * Whether the replica's confirmed state includes a committed write: every change up to its seq
   * came (the server sends a commit's changes before its answer), or no live subscription holds
   * what it wrote.
   */
  private reflects(write: OptimisticWrite): boolean {
    if (!this.feed.resuming && this.feed.seq >= write.seq!) return true;
    return write.ops.every((op) => ![...(this.tables.get(op.table)?.subs.values() ?? [])].some((sub) => sub.live && sub.covers(op.key)));
  }

  /** Lets go of the committed optimistic writes the replica now reflects. */
  private settleReflected(): void {
    if (this.optimistic.size === 0 || this.feed.resuming) return;
    for (const write of this.optimistic.committedBy(this.feed.seq)) this.withdraw(write);
  }

  private rebase(write: OptimisticWrite): void {
    const touched = new Set<TableReplica>();
    const ts = Date.now();
    for (const op of write.ops) {
      const replica = this.replica(op.table);
      replica.rebase(op.key, this.seenSeq, ts);
      touched.add(replica);
    }
    for (const replica of touched) replica.notifyApplied();
  }

  /**
   * The server's database follows another history (another database behind the URL, or this one
   * restarted its history): positions in the old one mean nothing. Every subscription takes a
   * snapshot, which replaces what the replica holds in its range: never a mix of the two.
   */
  private forgetPositions(): void {
    for (const sub of this.subsByNumber.values()) sub.forgetPosition();
    for (const tail of this.tails.values()) tail.seq = 0;
    this.feed.resuming = false;
    for (const replica of this.tables.values()) replica.resumeEnded();
    this.seenSeq = 0;
    this.persistence?.resetRecords();
    // Committed in the old history: let go with the first state of the new one the replica shows.
    for (const write of this.optimistic.committed()) write.seq = 0;
  }

  /** The connection delivered everything up to `seq` to its synced subscriptions. */
  private reached(seq: number): void {
    if (seq > this.feed.seq) this.feed.seq = seq;
    if (seq > this.seenSeq) this.seenSeq = seq;
    this.persistence?.positionsMoved();
  }

  /** Ends the resume once every live subscription is synced again. */
  private resumedAll(): void {
    if (!this.feed.resuming) return;
    for (const sub of this.subsByNumber.values()) if (sub.live && !sub.synced) return;
    this.feed.resuming = false;
    for (const replica of this.tables.values()) replica.resumeEnded();
  }

  /** A reply to a request: the connection works. */
  private answered(id: number): void {
    this.pending.delete(id);
    this.transport.answered();
  }

  private failed(id: number | null, subNumber: number | undefined, error: RxkvError): void {
    const request = id === null ? undefined : this.pending.get(id);
    if (subNumber !== undefined) {
      const sub = this.subsByNumber.get(subNumber);
      if (sub !== undefined) this.fail(sub, error);
      const tail = this.tails.get(subNumber);
      if (tail !== undefined) {
        this.tails.delete(subNumber);
        tail.end(error);
      }
      return;
    }
    if (id !== null) this.answered(id);
    if (request?.kind === 'write') this.writes.reject(request.write, error);
    else if (request?.kind === 'dump') request.lines.fail(error);
    else if (request?.kind === 'ask') request.reject(error);
    else if (request?.kind === 'subscribe') for (const sub of request.subs) this.fail(sub, error);
  }

  private fail(sub: ServerSub, error: RxkvError): void {
    this.forget(sub);
    for (const observer of [...sub.observers]) observer.end(error);
    sub.observers.clear();
  }

  private forget(sub: ServerSub): void {
    this.subsByNumber.delete(sub.number);
    sub.table.subs.delete(canonical(sub.filter));
    sub.table.prune();
    this.resumedAll();
    this.persistence?.positionsMoved();
  }

  /**
   * Asks the server for subscriptions: resumed from where each got to (`resume`), or from fresh
   * snapshots. Split over as many messages as the server's `maxMessageBytes` needs.
   */
  private subscribe(subs: readonly ServerSub[], resume: boolean): void {
    const ordered = resume ? [...subs].sort((a, b) => a.seq - b.seq) : subs;
    const envelope = SUBSCRIBE_ENVELOPE + utf8Length(this.history ?? '');
    let batch: ServerSub[] = [];
    let specs: string[] = [];
    let bytes = envelope;
    const send = (): void => {
      if (batch.length === 0) return;
      // The oldest position of the batch: what others hold already is skipped.
      const position = resume ? `,"since":${batch[0]!.seq},"history":${JSON.stringify(this.history)}` : '';
      const list = specs.join(',');
      this.request({ kind: 'subscribe', subs: batch }, (id) => `{"type":"subscribe","id":${id},"subs":[${list}]${position}}`);
      batch = [];
      specs = [];
      bytes = envelope;
    };
    for (const sub of ordered) {
      const spec = JSON.stringify({ sub: sub.number, table: sub.table.name, ...sub.filter });
      const size = utf8Length(spec) + 1;
      if (envelope + size > this.maxMessageBytes) {
        this.fail(sub, new RxkvError(ErrorCode.LIMIT_EXCEEDED, `This subscription is larger than the server takes in one message (${this.maxMessageBytes} bytes): use fewer or shorter keys.`));
        continue;
      }
      if (bytes + size > this.maxMessageBytes) send();
      batch.push(sub);
      specs.push(spec);
      bytes += size;
    }
    send();
  }

  /** Asks the server for a tail: resumed from the last seq it delivered (`resume`), or from now. */
  private sendTail(tail: Tail, resume: boolean): void {
    const position = resume && tail.seq > 0 ? `,"since":${tail.seq},"history":${JSON.stringify(this.history)}` : '';
    this.request({ kind: 'tail', tail }, (id) => `{"type":"subscribe","id":${id},"subs":[${tail.spec()}]${position}}`);
  }

  private sendWrite(write: PendingWrite): void {
    const id = this.nextRequest;
    const text = JSON.stringify({ type: 'write', id, m: write.m, ack: this.writes.ack, ops: write.ops });
    // The server would close the connection on a message over its limit: refuse it here instead.
    if (text.length * 3 > this.maxMessageBytes && utf8Length(text) > this.maxMessageBytes) {
      this.writes.reject(write, new RxkvError(ErrorCode.VALUE_TOO_LARGE, `This write is larger than the server takes in one message (${this.maxMessageBytes} bytes): nothing was sent.`));
      return;
    }
    this.request({ kind: 'write', write }, () => text);
  }

  private request(request: Request, build: (id: number) => object | string): void {
    const id = this.nextRequest++;
    this.pending.set(id, request);
    const message = build(id);
    this.transport.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The connection is gone: writes wait for the next one, subscriptions keep their positions to resume from. */
  private lost(): void {
    for (const request of this.pending.values()) {
      const lost = new RxkvError(ErrorCode.CONNECTION_LOST, 'The connection dropped before the answer came: ask again.');
      if (request.kind === 'dump') request.lines.fail(lost);
      else if (request.kind === 'ask') request.reject(lost);
    }
    this.pending.clear();
    for (const sub of this.subsByNumber.values()) {
      sub.unsync();
      if (sub.live) this.feed.resuming = true;
    }
    this.feed.seq = 0;
  }

  private stop(status: Status, failure: RxkvError | undefined): Promise<void> {
    return (this.ended ??= this.end(status, failure));
  }

  /** Why a request fails once the client ended without closing. */
  private refusal(reason: string | undefined): RxkvError {
    return this.failure ?? new RxkvError(ErrorCode.UNAUTHORIZED, `The server refused this client: ${reason}.`);
  }

  /** Ends the session for good: streams complete (or error with `failure`), writes reject. */
  private async end(status: Status, failure: RxkvError | undefined): Promise<void> {
    // The writes made while the store is read are stored first: those this ending rejects stay there.
    if (this.loading !== null) await this.loading;
    this.ending = true;
    this.failure = failure ?? null;
    this.persistence?.detach();
    const closed = this.transport.end(status);
    const error =
      failure ??
      new RxkvError(
        ErrorCode.CLIENT_CLOSED,
        this.persistence === null
          ? 'This client was closed before the server acknowledged this write: it may or may not have been committed.'
          : 'This client was closed before the server acknowledged this write: it stays in the store, and the next client on it sends it (applied once).',
      );
    const code = failure?.code;
    for (const request of this.pending.values()) {
      if (request.kind === 'dump') request.lines.fail(error);
      else if (request.kind === 'ask') request.reject(error);
    }
    for (const request of this.waiting) request.fail(error);
    this.waiting = [];
    this.pending.clear();
    // The streams complete: nothing is shown rolled back, the replica shows what was confirmed.
    for (const replica of this.tables.values()) replica.clearShown();
    this.optimistic.clear();
    this.writes.rejectAll(error);
    const tails = [...this.tails.values()];
    this.tails.clear();
    for (const tail of tails) tail.end(code === undefined ? undefined : error);
    const subs = [...this.subsByNumber.values()];
    this.subsByNumber.clear();
    for (const sub of subs) {
      sub.table.subs.clear();
      for (const observer of [...sub.observers]) observer.end(code === undefined ? undefined : error);
      sub.observers.clear();
    }
    await closed;
    if (this.persistence !== null && this.storeHeld) {
      await this.persistence.close().catch((error: unknown) => this.errors.next(error as RxkvError));
    }
    this.errors.complete();
  }
}

/** An op with a frozen copy of its value: what an optimistic write shows must not change with the caller's object. */
function frozenOp(op: WriteOp): WriteOp {
  return op.op === 'delete' ? op : { ...op, value: toFrozenJson(op.value, Number.POSITIVE_INFINITY) };
}

function canonical(filter: SubscriptionFilter): string {
  if (filter.key !== undefined) return 'k' + filter.key;
  if (filter.keys !== undefined) return 'K' + JSON.stringify(filter.keys);
  if (filter.prefix !== undefined) return 'p' + filter.prefix;
  return '*';
}

/** Lines that arrive page by page, read as an async iterable (with an error, when one ends it). */
class LineChannel implements AsyncIterable<string> {
  private buffered: string[] = [];
  private ended = false;
  private error: unknown = undefined;
  private wake: (() => void) | null = null;

  push(lines: readonly string[]): void {
    this.buffered.push(...lines);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.error = error;
    this.ended = true;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      const lines = this.buffered;
      this.buffered = [];
      for (const line of lines) yield line;
      if (this.buffered.length > 0) continue;
      if (this.error !== undefined) throw this.error;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
