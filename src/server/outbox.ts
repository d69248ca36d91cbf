import type { WebSocket } from 'ws';
import type { Change } from '../model/change.js';
import type { ServerMessage } from '../sync/protocol.js';
import type { Settings } from './options.js';
import type { Slicer } from './slicer.js';
import { Pages } from './pages.js';
import { changeJson, changesMessage, message, Squashed } from './wire.js';

/** Every message is a text frame, shared encoded ones (Buffers) included. */
const TEXT = { binary: false } as const;
/** Records with changes waiting for a client that is behind, beyond which it is disconnected. */
const MAX_SQUASHED_RECORDS = 10_000;

/** A change to send: the change (kept to squash it with later ones) and its wire form. */
interface Outgoing {
  readonly change: Change | undefined;
  readonly seq: number;
  /** Not kept for a client that is behind: rebuilt from `change` if it goes out unsquashed. */
  readonly json: string | undefined;
}

/** What waits to be sent: a message (built, or built from a run of changes), a change, a snapshot's pages. */
type Pending = string | Buffer | Outgoing | Squashed | Pages;

/** Whether a pending item is a message of its own: a run of changes never crosses it. */
function isMessage(pending: Pending): pending is string | Buffer | Pages {
  return typeof pending === 'string' || Buffer.isBuffer(pending) || pending instanceof Pages;
}

/** What the outbox tells its session. */
export interface OutboxEvents {
  /** The client stopped keeping up: stop reading its requests. */
  behind(): void;
  /** It caught up. */
  caughtUp(): void;
  /** It stayed behind too long, or too much waits for it: disconnect it. */
  tooSlow(): void;
}

/**
 * What one session sends, in the order it happened, and its flow control. Changes queued in a
 * tick go out together, as `changes` messages, once the tick is over. A snapshot goes out a page
 * at a time in slices of the event loop (see `Slicer`), and what comes after it waits behind its
 * last page. A client that stops reading
 * is left behind once `maxBufferedBytes` wait in its socket: nothing more is sent, what it is owed
 * is squashed per record (first and last version only) and sent when it catches up; if it does not
 * within `stallTimeout`, it is disconnected.
 */
export class Outbox {
  private queue: Pending[] = [];
  private flushScheduled = false;
  /** While the client is behind: the timer that disconnects it. */
  private stall: ReturnType<typeof setTimeout> | null = null;
  /** While behind: where each record's change waits in the current run of changes. */
  private readonly squashing = new Map<string, number>();
  /** The change queued last: a change several subscriptions cover is sent once. */
  private lastQueued: Change | undefined;
  /** A snapshot at the head of the queue is being sent, a page per slice. */
  private slicing = false;
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly settings: Settings,
    private readonly slicer: Slicer,
    private readonly events: OutboxEvents,
  ) {}

  get behind(): boolean {
    return this.stall !== null;
  }

  change(change: Change, json: string): void {
    if (change === this.lastQueued) return;
    this.lastQueued = change;
    const outgoing: Outgoing = { change, seq: change.seq, json };
    if (this.stall !== null) {
      this.squash(outgoing);
      return;
    }
    this.queue.push(outgoing);
    this.scheduleFlush();
  }

  /** A change from the resume log (its record is not at hand: it is never squashed). */
  replayed(seq: number, json: string): void {
    this.queue.push({ change: undefined, seq, json });
    this.scheduleFlush();
  }

  message(value: ServerMessage): void {
    this.queue.push(message(value));
    // A snapshot or reply ends a run of changes: squashing never moves a change across it.
    this.squashing.clear();
    this.scheduleFlush();
  }

  /** A long answer, sent a page at a time (a snapshot, a dump): what comes after it waits behind its last page. */
  paged(pages: Pages): void {
    this.queue.push(pages);
    this.squashing.clear();
    this.scheduleFlush();
  }

  close(): void {
    if (this.stall !== null) clearTimeout(this.stall);
    this.closed = true;
    this.queue = [];
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stall !== null) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /**
   * Sends what is queued, runs of changes as `changes` messages, until the client is behind; the
   * rest waits. A client applies a message as a whole and resumes from the last seq it applied,
   * so a run is only cut between two seqs (and a squashed run, not in seq order, never).
   */
  private flush(): void {
    this.flushScheduled = false;
    if (this.stall !== null || this.slicing || this.queue.length === 0 || this.socket.readyState !== this.socket.OPEN) return;
    const queue = this.queue;
    this.queue = [];
    this.lastQueued = undefined;
    let at = 0;
    while (at < queue.length) {
      if (queue[at] instanceof Pages) {
        this.queue = queue.slice(at);
        this.slicing = true;
        this.slicer.schedule(this.sendPage);
        return;
      }
      const [message, next] = this.nextMessage(queue, at);
      if (message !== undefined) this.socket.send(message, TEXT, this.sent);
      at = next;
      if (this.socket.bufferedAmount > this.settings.maxBufferedBytes) {
        this.fallBehind(queue.slice(at));
        return;
      }
    }
  }

  /** A slice: the next page of the snapshot at the head of the queue; after its last, the rest. */
  private readonly sendPage = (): boolean => {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) {
      this.slicing = false;
      return false;
    }
    const pages = this.queue[0] as Pages;
    this.socket.send(pages.next(), TEXT, this.sent);
    if (pages.done) this.queue.shift();
    if (this.socket.bufferedAmount > this.settings.maxBufferedBytes) {
      this.slicing = false;
      const unsent = this.queue;
      this.queue = [];
      this.fallBehind(unsent);
      return false;
    }
    if (!pages.done) return true;
    this.slicing = false;
    this.flush();
    return false;
  };

  /** The message that starts at `queue[at]` (none when a run squashed to nothing), and where the next one starts. */
  private nextMessage(queue: readonly Pending[], at: number): [string | Buffer | undefined, number] {
    const first = queue[at]!;
    if (typeof first === 'string' || Buffer.isBuffer(first)) return [first, at + 1];
    const chunk = this.settings.maxBufferedBytes >> 2;
    const changes: string[] = [];
    let bytes = 0;
    let squashed = false;
    let i = at;
    for (; i < queue.length; i++) {
      const pending = queue[i]!;
      if (isMessage(pending)) break;
      if (pending instanceof Squashed) squashed = true;
      const json = pending instanceof Squashed ? pending.json() : (pending.json ?? changeJson(pending.change!));
      if (json === undefined) continue;
      changes.push(json);
      bytes += json.length;
      const next = queue[i + 1];
      const cut = bytes >= chunk && !squashed && next !== undefined && !isMessage(next) && !(next instanceof Squashed);
      if (cut && next.seq > (pending as Outgoing).seq) {
        i++;
        break;
      }
    }
    return [changes.length === 0 ? undefined : changesMessage(changes), i];
  }

  /** Queues a change for a client that is behind: one per record in the current run. */
  private squash(outgoing: Outgoing): void {
    const change = outgoing.change;
    if (change === undefined) {
      this.queue.push(outgoing);
      return;
    }
    const record = change.table + '\0' + change.key;
    const at = this.squashing.get(record);
    if (at === undefined) {
      this.squashing.set(record, this.queue.length);
      this.queue.push({ change, seq: change.seq, json: undefined });
      if (this.squashing.size > MAX_SQUASHED_RECORDS) this.events.tooSlow();
      return;
    }
    const waiting = this.queue[at] as Outgoing | Squashed;
    if (waiting instanceof Squashed) {
      waiting.absorb(change);
    } else {
      const squashed = new Squashed(waiting.change!);
      squashed.absorb(change);
      this.queue[at] = squashed;
    }
  }

  /** What was not sent yet, and what comes meanwhile, is squashed per record. */
  private fallBehind(unsent: readonly Pending[]): void {
    this.events.behind();
    this.squashing.clear();
    for (const pending of unsent) {
      if (isMessage(pending) || pending instanceof Squashed) {
        this.queue.push(pending);
        this.squashing.clear();
      } else {
        this.squash(pending);
      }
    }
    this.stall = setTimeout(() => this.events.tooSlow(), this.settings.stallTimeout);
  }

  /** A message reached the kernel: a client that was behind may have caught up. */
  private readonly sent = (): void => {
    if (this.stall === null || this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > this.settings.maxBufferedBytes / 2) return;
    clearTimeout(this.stall);
    this.stall = null;
    this.squashing.clear();
    this.events.caughtUp();
    this.scheduleFlush();
  };
}
