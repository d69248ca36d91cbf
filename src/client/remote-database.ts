import { BehaviorSubject, type Observable } from 'rxjs';
import { checkKey, checkTableName } from '../engine/arguments.js';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Json, MergePatch } from '../json/types.js';
import { PROTOCOL_VERSION, REFUSED_CODES, type ServerMessage, type SubscriptionFilter, type WireChange, type WriteOp } from '../sync/protocol.js';
import { utf8Length } from '../sync/size.js';
import { Feed, ServerSub, TableReplica, type Listener } from './replica.js';
import { RemoteTable, checked, type ClientCore } from './remote-table.js';

/** The part of the WebSocket API the client uses: the browser's, and `ws`'s in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the connection at once, without a close handshake. */
  terminate?(): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ConnectOptions {
  /**
   * Sent in the `hello`, for the server's `authenticate`. A function is asked again on every
   * reconnect; when it throws or rejects, the client retries later, with backoff.
   */
  token?: string | (() => string | Promise<string>);
  /** Reconnect delays, in ms: the first retry waits up to `minDelay` (default 250), doubling up to `maxDelay` (default 10 s), with full jitter. */
  reconnect?: { minDelay?: number; maxDelay?: number };
  /**
   * The liveness check, in ms (default 10 s; 0: none). A connection silent that long is pinged;
   * one still silent after as long again is given up and reconnected: a connection cut off
   * without a close is noticed within 2 to 3 times this.
   */
  heartbeat?: number;
}

export type ConnectionState = 'connecting' | 'open' | 'closed' | 'refused';

export interface Status {
  readonly state: ConnectionState;
  /** Why it is not open: the close reason, or what refused it. */
  readonly reason?: string;
}

type Request =
  | { readonly kind: 'write'; readonly ops: readonly WriteOp[]; readonly resolve: (seq: number) => void; readonly reject: (error: unknown) => void }
  | { readonly kind: 'subscribe'; readonly subs: readonly ServerSub[] }
  | { readonly kind: 'unsubscribe' };

type Write = Extract<Request, { kind: 'write' }>;

/** How long `close()` waits for the server to answer the close handshake. */
const CLOSE_WAIT_MS = 1000;

/** Close code the client uses when its replica cannot apply a patch: it reconnects for fresh snapshots. */
const DIVERGED = 4000;
/** The code a connection given up by the client itself is reported with (as for a connection lost without a close frame). */
const ABANDONED = 1006;

/** The bytes of a `subscribe` message around its `subs`, at most (ids and seqs of any size). */
const SUBSCRIBE_ENVELOPE = utf8Length(JSON.stringify({ type: 'subscribe', id: Number.MAX_SAFE_INTEGER, subs: [], since: Number.MAX_SAFE_INTEGER }));

/**
 * A database served by `rxkv/server`, seen through a live replica. Made by `connect(url)`.
 * It connects at once and reconnects after a drop (with backoff and jitter), resuming every
 * subscription from the last `seq` it applied: no change is lost, repeated or reordered.
 */
export class RemoteDatabase implements ClientCore {
  private readonly statusSubject = new BehaviorSubject<Status>({ state: 'connecting' });
  private readonly tables = new Map<string, TableReplica>();
  private readonly subsByNumber = new Map<number, ServerSub>();
  /** What the current connection has delivered (shared by every table's replica). */
  private readonly feed = new Feed();
  /** Requests sent on the current socket and not answered yet. */
  private readonly pending = new Map<number, Request>();
  /** Writes made while not connected, sent once open. */
  private outbox: Write[] = [];
  private socket: WebSocketLike | null = null;
  /** The current socket's `welcome` came. */
  private welcomed = false;
  private nextRequest = 1;
  private nextSub = 1;
  /** The newest seq seen, snapshots included. */
  private seenSeq = 0;
  /** The replica could not apply a patch: the next connection takes fresh snapshots instead of resuming. */
  private diverged = false;
  /** The largest message the server takes (told in its welcome). */
  private maxMessageBytes = Number.POSITIVE_INFINITY;
  /** Failed connections in a row: the backoff grows until a connection answers a request. */
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private liveness: ReturnType<typeof setInterval> | null = null;
  /** Something arrived on the socket since the last liveness check, and how many checks found nothing. */
  private heard = false;
  private silentChecks = 0;
  private ended: Promise<void> | null = null;

  /** @internal Made by `connect`. */
  constructor(
    private readonly url: string,
    private readonly options: ConnectOptions,
    private readonly WebSocket: WebSocketConstructor,
  ) {
    this.open();
  }

  /** The connection's state: `connecting` (also while waiting to reconnect), `open`, `closed` (by `close()`) or `refused` (by the server; final). */
  get status$(): Observable<Status> {
    return this.statusSubject.asObservable();
  }

  get status(): Status {
    return this.statusSubject.value;
  }

  /** The seq of the newest state the replica shows. */
  get seq(): number {
    return this.seenSeq;
  }

  table<T = Json>(name: string): RemoteTable<T> {
    checkTableName(name);
    let replica = this.tables.get(name);
    if (replica === undefined) this.tables.set(name, (replica = new TableReplica(name, this.feed)));
    return new RemoteTable<T>(this, replica);
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
    if (ops.length === 0) return Promise.resolve(this.seenSeq);
    return this.write(ops);
  }

  /** Closes the connection: streams complete, writes not yet acknowledged reject (`CLIENT_CLOSED`). */
  close(): Promise<void> {
    return this.stop({ state: 'closed' }, undefined);
  }

  /** @internal */
  attach(replica: TableReplica, filter: SubscriptionFilter, listener: Listener): () => void {
    const { state, reason } = this.status;
    if (state === 'closed' || state === 'refused') {
      listener.end(state === 'closed' ? undefined : new RxkvError(ErrorCode.UNAUTHORIZED, `The server refused this client: ${reason}.`));
      return () => undefined;
    }
    if (filter.keys !== undefined && filter.keys.length === 0) {
      listener.live(); // covers no record: nothing to ask the server
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
    attached.listeners.add(listener);
    if (attached.live) listener.live();
    else if (created && this.welcomed) this.subscribe([attached], false);
    return () => {
      if (!attached.listeners.delete(listener) || attached.listeners.size > 0) return;
      this.forget(attached);
      if (this.welcomed) this.request({ kind: 'unsubscribe' }, (id) => ({ type: 'unsubscribe', id, subs: [attached.number] }));
    };
  }

  /** @internal */
  write(ops: readonly WriteOp[]): Promise<number> {
    return new Promise((resolve, reject) => {
      const { state } = this.status;
      if (state === 'closed') reject(new RxkvError(ErrorCode.CLIENT_CLOSED, 'This client was closed: nothing more can be written.'));
      else if (state === 'refused') reject(new RxkvError(ErrorCode.UNAUTHORIZED, `The server refused this client: ${this.status.reason}.`));
      else {
        const write: Write = { kind: 'write', ops, resolve, reject };
        if (this.welcomed) this.sendWrite(write);
        else this.outbox.push(write);
      }
    });
  }

  private open(): void {
    this.retry = null;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocket(this.url);
    } catch (error) {
      void this.stop({ state: 'refused', reason: `cannot connect to ${this.url}: ${(error as Error).message}` }, ErrorCode.UNAUTHORIZED);
      return;
    }
    this.socket = socket;
    this.welcomed = false;
    this.watch(socket);
    socket.onopen = () => {
      this.heard = true;
      void this.hello(socket);
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket || typeof event.data !== 'string') return;
      this.heard = true;
      this.receive(JSON.parse(event.data) as ServerMessage);
    };
    socket.onclose = (event) => this.lost(socket, event.code, event.reason);
    socket.onerror = () => undefined; // a close event follows
  }

  private async hello(socket: WebSocketLike): Promise<void> {
    const { token } = this.options;
    let value: string | undefined;
    try {
      value = typeof token === 'function' ? await token() : token;
    } catch (error) {
      // Not the server's refusal: no token now (an expired session being renewed, a network error).
      if (socket === this.socket) this.abandon(socket, `the token function failed: ${(error as Error)?.message ?? String(error)}`);
      return;
    }
    if (socket !== this.socket) return;
    socket.send(JSON.stringify(value === undefined ? { type: 'hello', v: PROTOCOL_VERSION } : { type: 'hello', v: PROTOCOL_VERSION, token: value }));
  }

  private receive(message: ServerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.maxMessageBytes = message.maxMessageBytes;
        return this.welcome();
      case 'snapshot':
        return this.snapshotPage(message.sub, message.records, message.seq, message.last);
      case 'changes':
        return this.applyChanges(message.changes);
      case 'subscribed': {
        const request = this.pending.get(message.id);
        this.answered(message.id);
        if (request?.kind === 'subscribe') {
          for (const sub of request.subs) if (this.subsByNumber.get(sub.number) === sub) sub.sync(message.seq);
        }
        this.reached(message.seq);
        return this.resumedAll();
      }
      case 'unsubscribed':
        return this.answered(message.id);
      case 'committed': {
        const write = this.pending.get(message.id);
        this.answered(message.id);
        if (write?.kind === 'write') write.resolve(message.seq);
        return;
      }
      case 'pong':
        return;
      case 'error':
        return this.failed(message.id, message.sub, new RxkvError(message.code as ErrorCode, message.message));
    }
  }

  private welcome(): void {
    this.welcomed = true;
    this.statusSubject.next({ state: 'open' });
    const subs = [...this.subsByNumber.values()];
    const live = subs.filter((sub) => sub.live);
    const fresh = subs.filter((sub) => !sub.live);
    if (live.length > 0) this.subscribe(live, !this.diverged);
    if (fresh.length > 0) this.subscribe(fresh, false);
    this.diverged = false;
    const outbox = this.outbox;
    this.outbox = [];
    for (const write of outbox) this.sendWrite(write);
    if (this.pending.size === 0) this.attempt = 0;
  }

  /** A page of a subscription's snapshot: kept until the last one, then applied as a whole. */
  private snapshotPage(number: number, records: readonly (readonly [string, Json])[], seq: number, last: boolean): void {
    const sub = this.subsByNumber.get(number);
    if (sub === undefined) return; // dropped since it was asked for
    if (!last) {
      const pages = (sub.pages ??= []);
      for (const record of records) pages.push(record);
      return;
    }
    const all = sub.pages === null ? records : sub.pages.concat(records);
    sub.pages = null;
    sub.table.applySnapshot(sub, all, seq);
    sub.sync(seq);
    this.reached(seq);
    sub.table.settle();
    this.resumedAll();
  }

  private applyChanges(changes: readonly WireChange[]): void {
    const touched = new Set<TableReplica>();
    let newest = 0;
    for (const change of changes) {
      const replica = this.tables.get(change.table);
      if (replica === undefined) continue;
      if (!replica.apply(change)) {
        // Cannot happen between this client and an rxkv server; if it does, start over from snapshots.
        this.diverged = true;
        this.socket?.close(DIVERGED, 'replica diverged');
        break;
      }
      touched.add(replica);
      if (change.seq > newest) newest = change.seq;
    }
    // A run of changes is never cut inside a seq: after the message, every change up to its newest came.
    this.reached(newest);
    for (const replica of touched) replica.settle();
  }

  /** The connection delivered everything up to `seq` to its synced subscriptions. */
  private reached(seq: number): void {
    if (seq > this.feed.seq) this.feed.seq = seq;
    if (seq > this.seenSeq) this.seenSeq = seq;
  }

  /** Ends the resume once every live subscription is synced again. */
  private resumedAll(): void {
    if (!this.feed.resuming) return;
    for (const sub of this.subsByNumber.values()) if (sub.live && !sub.synced) return;
    this.feed.resuming = false;
    for (const replica of this.tables.values()) replica.resumeEnded();
  }

  /** A reply to a request: the connection works, so the next drop retries from the shortest delay. */
  private answered(id: number): void {
    this.pending.delete(id);
    this.attempt = 0;
  }

  private failed(id: number | null, subNumber: number | undefined, error: RxkvError): void {
    const request = id === null ? undefined : this.pending.get(id);
    if (subNumber !== undefined) {
      const sub = this.subsByNumber.get(subNumber);
      if (sub !== undefined) this.fail(sub, error);
      return;
    }
    if (id !== null) this.answered(id);
    if (request?.kind === 'write') request.reject(error);
    else if (request?.kind === 'subscribe') for (const sub of request.subs) this.fail(sub, error);
  }

  private fail(sub: ServerSub, error: RxkvError): void {
    this.forget(sub);
    for (const listener of [...sub.listeners]) listener.end(error);
    sub.listeners.clear();
  }

  private forget(sub: ServerSub): void {
    this.subsByNumber.delete(sub.number);
    sub.table.subs.delete(canonical(sub.filter));
    sub.table.prune();
    this.resumedAll();
  }

  /**
   * Asks the server for subscriptions: resumed from where each got to (`resume`), or from fresh
   * snapshots. Split over as many messages as the server's `maxMessageBytes` needs.
   */
  private subscribe(subs: readonly ServerSub[], resume: boolean): void {
    const ordered = resume ? [...subs].sort((a, b) => a.seq - b.seq) : subs;
    let batch: ServerSub[] = [];
    let specs: string[] = [];
    let bytes = SUBSCRIBE_ENVELOPE;
    const send = (): void => {
      if (batch.length === 0) return;
      const since = resume ? batch[0]!.seq : undefined; // the oldest position of the batch: what others hold already is skipped
      const list = specs.join(',');
      this.request({ kind: 'subscribe', subs: batch }, (id) => `{"type":"subscribe","id":${id},"subs":[${list}]${since === undefined ? '' : `,"since":${since}`}}`);
      batch = [];
      specs = [];
      bytes = SUBSCRIBE_ENVELOPE;
    };
    for (const sub of ordered) {
      const spec = JSON.stringify({ sub: sub.number, table: sub.table.name, ...sub.filter });
      const size = utf8Length(spec) + 1;
      if (SUBSCRIBE_ENVELOPE + size > this.maxMessageBytes) {
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

  private sendWrite(write: Write): void {
    const id = this.nextRequest;
    const text = JSON.stringify({ type: 'write', id, ops: write.ops });
    // The server would close the connection on a message over its limit: refuse it here instead.
    if (text.length * 3 > this.maxMessageBytes && utf8Length(text) > this.maxMessageBytes) {
      write.reject(new RxkvError(ErrorCode.VALUE_TOO_LARGE, `This write is larger than the server takes in one message (${this.maxMessageBytes} bytes): nothing was sent.`));
      return;
    }
    this.request(write, () => text);
  }

  private request(request: Request, build: (id: number) => object | string): void {
    const id = this.nextRequest++;
    this.pending.set(id, request);
    const message = build(id);
    this.socket!.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Checks the socket carries something every `heartbeat`: pings it when silent, gives it up when it stays so. */
  private watch(socket: WebSocketLike): void {
    const interval = this.options.heartbeat ?? 10_000;
    if (interval === 0) return;
    this.heard = false;
    this.silentChecks = 0;
    this.liveness = setInterval(() => {
      if (this.heard) {
        this.heard = false;
        this.silentChecks = 0;
        return;
      }
      this.silentChecks++;
      if (this.silentChecks === 1 && this.welcomed) socket.send('{"type":"ping"}');
      else if (this.silentChecks >= 2) this.abandon(socket, 'the server stopped answering');
    }, interval);
  }

  private unwatch(): void {
    if (this.liveness !== null) clearInterval(this.liveness);
    this.liveness = null;
  }

  /** Gives a socket up without waiting for its close (which may never come), and reconnects. */
  private abandon(socket: WebSocketLike, reason: string): void {
    socket.onopen = socket.onmessage = socket.onclose = null;
    if (socket.terminate !== undefined) socket.terminate();
    else socket.close();
    this.lost(socket, ABANDONED, reason);
  }

  private lost(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.welcomed = false;
    this.unwatch();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) {
      if (request.kind === 'write') {
        request.reject(new RxkvError(ErrorCode.CONNECTION_LOST, 'The connection dropped before the server acknowledged this write: it may or may not have been committed.'));
      }
    }
    // Each subscription keeps the position it reached; the next connection resumes from there.
    for (const sub of this.subsByNumber.values()) {
      sub.unsync();
      if (sub.live) this.feed.resuming = true;
    }
    this.feed.seq = 0;
    if (this.ended !== null) return;
    if (REFUSED_CODES.has(code)) {
      void this.stop({ state: 'refused', reason: reason || `closed with code ${code}` }, ErrorCode.UNAUTHORIZED);
      return;
    }
    const opened = this.status.state === 'open';
    this.statusSubject.next({ state: 'connecting', reason: reason || (opened ? `connection lost (code ${code})` : `cannot connect (code ${code})`) });
    const { minDelay = 250, maxDelay = 10_000 } = this.options.reconnect ?? {};
    const ceiling = Math.min(maxDelay, minDelay * 2 ** this.attempt);
    this.attempt++;
    this.retry = setTimeout(() => this.open(), Math.random() * ceiling);
  }

  private stop(status: Status, code: ErrorCode | undefined): Promise<void> {
    return (this.ended ??= this.end(status, code));
  }

  /** Ends the client for good: streams complete (or error with `code`), writes reject. */
  private async end(status: Status, code: ErrorCode | undefined): Promise<void> {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.unwatch();
    const error =
      code === undefined
        ? new RxkvError(ErrorCode.CLIENT_CLOSED, 'This client was closed before the server acknowledged this write: it may or may not have been committed.')
        : new RxkvError(code, `The server refused this client: ${status.reason}.`);
    const socket = this.socket;
    this.socket = null;
    this.welcomed = false;
    this.statusSubject.next(status);
    const writes = [...this.pending.values(), ...this.outbox].filter((request): request is Write => request.kind === 'write');
    this.pending.clear();
    this.outbox = [];
    for (const write of writes) write.reject(error);
    const subs = [...this.subsByNumber.values()];
    this.subsByNumber.clear();
    for (const sub of subs) {
      sub.table.subs.clear();
      for (const listener of [...sub.listeners]) listener.end(code === undefined ? undefined : error);
      sub.listeners.clear();
    }
    if (socket !== null && socket.readyState < 2) {
      // Wait for the close handshake, but not for a server that does not answer.
      await new Promise<void>((resolve) => {
        const gaveUp = setTimeout(resolve, CLOSE_WAIT_MS);
        socket.onclose = () => {
          clearTimeout(gaveUp);
          resolve();
        };
        socket.close(1000, 'client closed');
      });
    }
  }
}

/** The writes of a `transaction`, recorded and sent together. */
export class RemoteTransaction {
  /** @internal */
  constructor(private readonly ops: WriteOp[]) {}

  table<T = Json>(name: string): { merge(key: string, patch: MergePatch<T>): void; put(key: string, value: T): void; delete(key: string): void } {
    const table = checkTableName(name);
    const ops = this.ops;
    return {
      merge: (key, patch) => void ops.push({ op: 'merge', table, key: checkKey(key), value: checked(patch) }),
      put: (key, value) => void ops.push({ op: 'put', table, key: checkKey(key), value: checked(value) }),
      delete: (key) => void ops.push({ op: 'delete', table, key: checkKey(key) }),
    };
  }
}

function canonical(filter: SubscriptionFilter): string {
  if (filter.key !== undefined) return 'k' + filter.key;
  if (filter.keys !== undefined) return 'K' + JSON.stringify(filter.keys);
  if (filter.prefix !== undefined) return 'p' + filter.prefix;
  return '*';
}
