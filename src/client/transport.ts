import { BehaviorSubject, type Observable } from 'rxjs';
import { PROTOCOL_VERSION, REFUSED_CODES, type ServerMessage } from '../sync/protocol.js';

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

export interface TransportOptions {
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

/** What the transport tells the session above it. */
export interface TransportEvents {
  /** A message of the welcomed connection (the `welcome` first). */
  message(message: ServerMessage): void;
  /** The connection is gone; the transport reconnects unless it is refused or closed. */
  lost(): void;
  /** The server refused this client for good (or the URL cannot be connected to). */
  refused(reason: string): void;
}

/** How long `close()` waits for the server to answer the close handshake. */
const CLOSE_WAIT_MS = 1000;
/** The code a connection given up by the client itself is reported with (as for a connection lost without a close frame). */
const ABANDONED = 1006;

/**
 * One connection to the server at a time: opens it, says hello, watches that it stays alive,
 * reconnects after a drop with backoff and jitter, and closes it. What goes over it is the
 * session's business.
 */
export class Transport {
  private readonly statusSubject = new BehaviorSubject<Status>({ state: 'connecting' });
  private socket: WebSocketLike | null = null;
  /** The current socket's `welcome` came. */
  private welcomed = false;
  /** Failed connections in a row: the backoff grows until a connection answers a request. */
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private liveness: ReturnType<typeof setInterval> | null = null;
  /** Something arrived on the socket since the last liveness check, and how many checks found nothing. */
  private heard = false;
  private silentChecks = 0;
  private ended = false;

  constructor(
    private readonly url: string,
    private readonly options: TransportOptions,
    /** Said in every hello: the server applies each write of this client once (a persisted replica's is set from its store before `connect`). */
    public client: string,
    private readonly WebSocket: WebSocketConstructor,
    private readonly events: TransportEvents,
  ) {}

  get status$(): Observable<Status> {
    return this.statusSubject.asObservable();
  }

  get status(): Status {
    return this.statusSubject.value;
  }

  /** Whether the current connection was welcomed: requests can be sent. */
  get ready(): boolean {
    return this.welcomed;
  }

  /** Sends on the welcomed connection. */
  send(text: string): void {
    this.socket!.send(text);
  }

  /** The connection answered a request: it works, so the next drop retries from the shortest delay. */
  answered(): void {
    this.attempt = 0;
  }

  /** Closes the current connection with `code` and reconnects (the session asked for it). */
  restart(code: number, reason: string): void {
    this.socket?.close(code, reason);
  }

  /** Opens a connection (again). */
  connect(): void {
    this.retry = null;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocket(this.url);
    } catch (error) {
      this.events.refused(`cannot connect to ${this.url}: ${(error as Error).message}`);
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
      const message = JSON.parse(event.data) as ServerMessage;
      if (message.type === 'welcome') {
        this.welcomed = true;
        this.statusSubject.next({ state: 'open' });
      }
      this.events.message(message);
    };
    socket.onclose = (event) => this.lost(socket, event.code, event.reason);
    socket.onerror = () => undefined; // a close event follows
  }

  /**
   * Ends for good with `status` (closed, or refused): no reconnect. Waits for the close handshake
   * of a connection still open, but not for a server that does not answer.
   */
  async end(status: Status): Promise<void> {
    this.ended = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.unwatch();
    const socket = this.socket;
    this.socket = null;
    this.welcomed = false;
    this.statusSubject.next(status);
    if (socket === null || socket.readyState >= 2) return;
    await new Promise<void>((resolve) => {
      const gaveUp = setTimeout(resolve, CLOSE_WAIT_MS);
      socket.onclose = () => {
        clearTimeout(gaveUp);
        resolve();
      };
      socket.close(1000, 'client closed');
    });
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
    socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, ...(value === undefined ? {} : { token: value }), client: this.client }));
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
    this.events.lost();
    if (this.ended) return;
    if (REFUSED_CODES.has(code)) {
      this.events.refused(reason || `closed with code ${code}`);
      return;
    }
    const opened = this.status.state === 'open';
    this.statusSubject.next({ state: 'connecting', reason: reason || (opened ? `connection lost (code ${code})` : `cannot connect (code ${code})`) });
    const { minDelay = 250, maxDelay = 10_000 } = this.options.reconnect ?? {};
    const ceiling = Math.min(maxDelay, minDelay * 2 ** this.attempt);
    this.attempt++;
    this.retry = setTimeout(() => this.connect(), Math.random() * ceiling);
  }
}
