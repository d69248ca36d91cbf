import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Change } from '../model/change.js';
import { CloseCode, PROTOCOL_VERSION, type ClientMessage, type ServerMessage } from '../sync/protocol.js';
import { BadMessage, parseClientMessage } from './messages.js';
import { Outbox } from './outbox.js';
import { Requests, type Request, type Server as RequestServer } from './requests.js';
import type { Slicer } from './slicer.js';
import { describeError } from './wire.js';

/** What a session needs of the server it belongs to. */
export interface Host extends RequestServer {
  readonly slicer: Slicer;
  /** A session said hello with a client id: any other session with it is closed (one connection per client). */
  claim(client: string, session: Session): void;
  closed(session: Session): void;
}

/** Requests admitted but not answered yet, beyond which the session stops reading. */
const MAX_IN_FLIGHT = 256;
/** How long a client has to answer the server's close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/**
 * One client's connection: its hello and `authenticate`, the admission of its requests, and
 * everything sent to it, in the order it happened (its `Outbox`). Requests are admitted in the
 * order they came (an async `authorize` must not reorder two writes) and handled by `Requests`;
 * a write's durability is awaited without holding up the next request.
 */
export class Session {
  private phase: 'hello' | 'authenticating' | 'open' | 'closed' = 'hello';
  /** What `authenticate` returned. */
  principal: unknown = null;
  /** The client id of its hello, if any: its writes are then applied exactly once. */
  client: string | undefined = undefined;
  readonly outbox: Outbox;
  private readonly requests: Requests;
  /** The admission of earlier requests, while one waits for `authorize`. */
  private admitting: Promise<void> | null = null;
  private inFlight = 0;
  /**
   * Messages that came right behind the hello, while `authenticate` runs: pausing the socket stops
   * reading, not the messages of what was read already. Taken once open, dropped if refused.
   */
  private early: [RawData, boolean][] = [];
  /** Until the hello is answered (both are let go then: a session may live for days). */
  private helloTimer: ReturnType<typeof setTimeout> | null;
  private request: IncomingMessage | null;
  /** Cleared by each heartbeat, set by the client's pong. */
  alive = true;

  constructor(
    private readonly socket: WebSocket,
    request: IncomingMessage,
    private readonly host: Host,
  ) {
    this.request = request;
    this.outbox = new Outbox(socket, host.settings, host.slicer, {
      behind: () => socket.pause(),
      caughtUp: () => {
        if (this.inFlight < MAX_IN_FLIGHT) socket.resume();
      },
      tooSlow: () => this.close(CloseCode.TOO_SLOW, 'too far behind'),
    });
    this.requests = new Requests(host, this);
    this.helloTimer = setTimeout(() => this.close(CloseCode.HELLO_TIMEOUT, 'no hello in time'), host.settings.helloTimeout);
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('pong', () => (this.alive = true));
    socket.on('close', () => this.closed());
    socket.on('error', () => socket.terminate());
  }

  get open(): boolean {
    return this.phase !== 'closed';
  }

  /** Bytes waiting in its socket. */
  get bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  /** Sends a change a subscription of this session covers. */
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

  /** A request was answered: past half the limit of unanswered ones, reading goes on. */
  answered(): void {
    this.inFlight--;
    if (this.inFlight === MAX_IN_FLIGHT / 2 && !this.outbox.behind && this.phase === 'open') this.socket.resume();
  }

  private closed(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.helloAnswered();
    this.outbox.close();
    this.requests.close();
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
      else this.send({ type: 'error', id: error instanceof BadMessage ? error.id : null, ...describeError(error) });
      return;
    }
    if (this.phase === 'hello') {
      if (parsed.type === 'hello') void this.hello(parsed.v, parsed.token, parsed.client);
      else this.close(CloseCode.BAD_HELLO, 'expected a hello');
    } else if (parsed.type === 'hello') {
      this.send({ type: 'error', id: null, ...describeError(new RxkvError(ErrorCode.BAD_MESSAGE, 'hello: this connection already said hello.')) });
    } else if (parsed.type === 'ping') {
      this.alive = true;
      this.send({ type: 'pong' });
    } else {
      this.admit(parsed);
    }
  }

  private async hello(version: number, token: string | undefined, client: string | undefined): Promise<void> {
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
        principal = await authenticate({ token, request: this.request! });
      } catch {
        principal = null;
      }
    }
    if ((this.phase as Session['phase']) === 'closed') return;
    if (principal === null || principal === undefined || principal === false) {
      this.close(CloseCode.UNAUTHORIZED, 'authentication refused');
      return;
    }
    this.helloAnswered();
    this.principal = principal;
    this.phase = 'open';
    if (client !== undefined) {
      this.client = client;
      this.host.claim(client, this);
    }
    this.socket.resume();
    const { db, settings } = this.host;
    this.send({ type: 'welcome', v: PROTOCOL_VERSION, history: db.history, seq: db.seq, maxMessageBytes: settings.maxMessageBytes });
    const early = this.early;
    this.early = [];
    for (const [data, isBinary] of early) this.receive(data, isBinary);
  }

  private helloAnswered(): void {
    if (this.helloTimer !== null) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    this.request = null;
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

  private start(request: Request): Promise<void> | undefined {
    return this.phase === 'closed' ? undefined : this.requests.handle(request);
  }

  private send(value: ServerMessage): void {
    this.outbox.message(value);
  }
}
