import { createHash, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import { MultiWriteIntent, WriteIntent, type Intent, type TableWriter } from '../engine/intent.js';
import { isFreshDestination } from '../engine/copy.js';
import type { Engine, WriteRouter } from '../engine/lifecycle.js';
import type { TableState } from '../engine/table-state.js';
import type { WorkingState } from '../engine/working-set.js';
import { DELETE_SPEC, type WriteSpec } from '../engine/writes.js';
import type { Entry } from '../model/record.js';
import { encodeEntry } from '../storage/codec.js';
import { decodeMessage, encodeMessage, encodeOp, type ClusterMessage, type ClusterOp, type Read, type Written } from './message.js';
import type { ClusterSettings } from './options.js';
import { loadSnapshot, SNAPSHOT_OBJECT, snapshotStream } from './snapshot.js';
import { ClusterStream } from './stream.js';

/** The node's own table: its position in the stream, written in the same commit as each message's writes. */
const POSITION_TABLE = '#cluster';
const POSITION_KEY = 'position';

/** How many times a transaction (or `produce`) runs again when a write that came first changed what it read. */
const MAX_RETRIES = 10;

/** Messages handed to the pipeline and not yet committed: past this, reading the stream waits. */
const MAX_APPLYING = 64;

/** The bytes of a message around its ops. */
const ENVELOPE_BYTES = 200;

interface Waiting {
  readonly text: string;
  readonly bytes: number;
  /** Called with the intent that applies it, when its message comes back from the stream. */
  readonly settle: { resolve: (result: never) => void; reject: (error: unknown) => void };
}

const IGNORE = (): void => undefined;

/**
 * A node of a cluster: its engine's writes become intents published to the cluster's stream, and
 * every message of the stream (its own and every other node's) is applied, in stream order, to its
 * engine, with the message's time and the same rules on every node: so every node reaches the same
 * state with the same seqs and changes. A write resolves once its own node has applied the message
 * it went out in.
 */
export class ClusterNode implements WriteRouter {
  /** This open's id: with a batch number, the id of each message (JetStream stores a resent one once). */
  private readonly id = randomUUID();
  private batch = 0;
  private queue: Waiting[] = [];
  private publishing = false;
  /** This node's batches published and not yet applied, by batch number. */
  private readonly mine = new Map<number, Waiting[]>();
  /** The stream seq of the last message committed here. */
  private applied: number;
  /** The stream seq of the last message handed to the pipeline. */
  private handed: number;
  private readonly waiters: { seq: number; resolve: () => void }[] = [];
  /** The newest write of each record this node published and has not applied yet. */
  private readonly unapplied = new Map<string, Promise<unknown>>();
  private failure: RxkvError | null = null;
  /** A snapshot being stored, and whether another came due meanwhile. */
  private snapshotting: Promise<void> | null = null;
  private snapshotDue = false;
  private following: { stop: () => void; done: Promise<void> } | null = null;
  private closing = false;

  private constructor(
    private readonly engine: Engine,
    private readonly log: ClusterStream,
    private readonly settings: ClusterSettings,
    position: number,
  ) {
    this.applied = position;
    this.handed = position;
  }

  get stream(): string {
    return this.settings.stream;
  }

  /**
   * Opens the node in `path` (`open` opens its engine): a new directory starts from the cluster's
   * newest snapshot when there is one, a node whose position left the stream starts over from one,
   * and either follows the stream from there. Resolves, with the engine, once it has applied
   * everything the stream held.
   */
  static async open(path: string, openEngine: () => Promise<Engine>, settings: ClusterSettings): Promise<Engine> {
    const log = await ClusterStream.open(settings);
    let engine: Engine | undefined;
    try {
      const history = createHash('sha256').update(`${settings.stream}\n${log.origin}`).digest('hex').slice(0, 32);
      if (await isFreshDestination(path)) await restoreNewest(log, path, 0);
      engine = await openEngine();
      let position: number;
      try {
        position = await checkPosition(engine, log, settings, history);
      } catch (error) {
        if (!(error instanceof PositionGone)) throw error;
        // Far behind: everything it holds is in the snapshot, which takes it past the hole.
        await engine.close();
        engine = undefined;
        if (!(await restoreNewest(log, path, error.position, true))) throw error.reason;
        engine = await openEngine();
        position = await checkPosition(engine, log, settings, history);
      }
      await engine.adoptHistory(history);
      const node = new ClusterNode(engine, log, settings, position);
      engine.route(node);
      await node.follow(history);
      await node.sync();
      return engine;
    } catch (error) {
      await engine?.close().catch(() => undefined);
      await log.close();
      throw error;
    }
  }

  /**
   * Reads the stream from the message after the last one handed to the pipeline. The client's
   * ordered consumer outlives lost servers and consumers by itself (measured: a deleted consumer
   * is replaced within 3 s); reading that ends all the same stops the node, on `errors$`.
   */
  private async follow(history: string): Promise<void> {
    const following = await this.log.follow(this.handed + 1, (text, seq) => this.receive(text, seq, history));
    this.following = following;
    const stopped = (cause?: unknown): void => {
      if (!this.closing) this.fail(new RxkvError(ErrorCode.CLUSTER_UNAVAILABLE, `Reading the cluster's stream stopped${cause === undefined ? '' : ` (${(cause as Error).message})`}: open the node again.`, { cause }));
    };
    void following.done.then(() => stopped(), stopped);
  }

  /** Resolves once this node has applied every message the stream held when it was called. */
  async sync(): Promise<void> {
    const { last } = await this.log.bounds();
    if (this.applied >= last) return;
    this.checkRunning();
    await new Promise<void>((resolve) => this.waiters.push({ seq: last, resolve }));
    this.checkRunning();
  }

  write(table: TableState, key: string, spec: WriteSpec, ifVersion: number | undefined): Promise<unknown> {
    // A recipe is code: it runs here, and what it wrote is published, conditioned on what it read.
    if (spec.verb === 'produce') return this.transact((writer) => writer.write(table, key, spec, ifVersion));
    return this.publish({ kind: 'write', table: table.name, key, spec, ifVersion });
  }

  /**
   * Runs `body` here on the state this node has applied, recording the versions it reads, and
   * publishes the records it leaves, conditioned on those versions. When another write came first
   * and changed one of them, it runs again (up to `MAX_RETRIES` times, then `CONFLICT`).
   */
  async transact<R, F = never>(body: (writer: TableWriter) => R, fallback?: (writer: TableWriter, error: unknown) => F, attempt = 1): Promise<R | F> {
    const reads = new ReadRecorder();
    const run = new MultiWriteIntent(IGNORE, IGNORE, body, fallback);
    const encode = (entry: Entry, state: TableState): string => encodeEntry(entry, state.internal ? Number.POSITIVE_INFINITY : this.engine.maxValueBytes);
    const mutations = run.apply({ working: reads, seq: this.engine.seq + 1, ts: Date.now(), encode });
    const result = run.result as R | F;
    if (mutations === null) return result; // it wrote nothing: nothing to agree on
    const read = reads.list();
    // A write of this node still on its way changes what it read: run it again once that one is in,
    // rather than lose the race against its own node's writes.
    const before = read.map(([table, key]) => this.unapplied.get(recordId(table, key))).filter((write) => write !== undefined);
    if (before.length > 0) {
      await Promise.allSettled(before);
      return this.transact(body, fallback, attempt);
    }
    const writes: Written[] = mutations.map((mutation) => [mutation.state.name, mutation.key, mutation.after?.value]);
    try {
      await this.publish({ kind: 'checked', reads: read, writes });
    } catch (error) {
      if (!(error instanceof RxkvError && error.code === ErrorCode.CONFLICT && error.cause === RETRY) || attempt >= MAX_RETRIES) {
        throw error instanceof RxkvError && error.cause === RETRY ? new RxkvError(ErrorCode.CONFLICT, `A transaction ran ${attempt} times and other writes changed what it read each time: try again later.`) : error;
      }
      // Another node's write came first: wait a little, at random, so that nodes contending for
      // one record do not keep colliding in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * attempt));
      return this.transact(body, fallback, attempt + 1);
    }
    return result;
  }

  private publish(op: ClusterOp): Promise<unknown> {
    this.checkRunning();
    const text = encodeOp(op);
    const bytes = Buffer.byteLength(text);
    if (bytes + ENVELOPE_BYTES > this.log.maxPayload) {
      throw new RxkvError(ErrorCode.VALUE_TOO_LARGE, `A write of ${bytes} bytes does not fit in a message of the cluster (its servers' max_payload is ${this.log.maxPayload} bytes).`);
    }
    const written = new Promise((resolve, reject) => {
      this.queue.push({ text, bytes, settle: { resolve: resolve as (result: never) => void, reject } });
      if (!this.publishing) void this.publishQueued();
    });
    const ids = op.kind === 'write' ? [recordId(op.table, op.key)] : op.writes.map(([table, key]) => recordId(table, key));
    for (const id of ids) this.unapplied.set(id, written);
    const forget = (): void => {
      for (const id of ids) if (this.unapplied.get(id) === written) this.unapplied.delete(id);
    };
    written.then(forget, forget);
    return written;
  }

  /**
   * Group commit over the stream: one message in flight at a time (so that this node's writes keep
   * their call order), holding every write queued while the previous one was out.
   */
  private async publishQueued(): Promise<void> {
    this.publishing = true;
    await Promise.resolve(); // the writes of this tick go in the same message
    while (this.queue.length > 0 && this.failure === null) {
      let size = ENVELOPE_BYTES;
      let count = 0;
      while (count < this.queue.length && size + this.queue[count]!.bytes + 1 <= this.log.maxPayload) size += this.queue[count++]!.bytes + 1;
      const waiting = this.queue.slice(0, count);
      this.queue = this.queue.slice(count);
      const batch = ++this.batch;
      this.mine.set(batch, waiting);
      const text = encodeMessage(this.id, batch, Date.now(), waiting.map((write) => write.text));
      try {
        await this.log.publish(text, `${this.id}:${batch}`);
      } catch (error) {
        // Not acknowledged: if the stream got it after all, it is applied like any other's message.
        this.mine.delete(batch);
        for (const write of waiting) write.settle.reject(error);
      }
    }
    this.publishing = false;
  }

  /** A message of the stream, in order: applied as one commit group, ending with this node's new position. */
  private async receive(text: string, seq: number, history: string): Promise<void> {
    if (seq <= this.handed || this.failure !== null) return;
    let message: ClusterMessage;
    try {
      message = decodeMessage(text, seq, this.engine.maxValueBytes);
    } catch (error) {
      this.fail(error as RxkvError);
      return;
    }
    const waiting = message.node === this.id ? this.mine.get(message.batch) : undefined;
    if (waiting !== undefined) this.mine.delete(message.batch);
    const intents: Intent[] = message.ops.map((op, i) => this.intentOf(op, waiting?.[i]?.settle));
    const ours = message.node === this.id;
    const position = new WriteIntent(() => this.committed(seq, ours), (error) => this.fail(error as RxkvError), this.engine.stateOf(POSITION_TABLE), POSITION_KEY, { verb: 'put', value: { history, seq } }, undefined);
    intents.push(position);
    for (const intent of intents) intent.ts = message.ts;
    this.handed = seq;
    this.engine.apply(intents);
    if (this.handed - this.applied >= MAX_APPLYING) await this.until(this.handed - MAX_APPLYING / 2);
  }

  private intentOf(op: ClusterOp, settle: Waiting['settle'] | undefined): Intent {
    const resolve = settle?.resolve ?? IGNORE;
    const reject = settle?.reject ?? IGNORE;
    if (op.kind === 'write') return new WriteIntent(resolve, reject, this.engine.stateOf(op.table), op.key, op.spec, op.ifVersion);
    return new CheckedWrites(resolve, reject, (name) => this.engine.stateOf(name), op.reads, op.writes);
  }

  /** Message `seq` is committed here (`ours`: this node published it). */
  private committed(seq: number, ours: boolean): void {
    this.applied = seq;
    // The node that published every `snapshotEvery`-th message stores the snapshot: one node, so
    // that nodes never race to store the same state.
    const every = this.settings.snapshotEvery;
    if (ours && every > 0 && seq % every === 0) this.snapshot();
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.seq <= seq) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private until(seq: number): Promise<void> {
    if (this.applied >= seq || this.failure !== null) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq, resolve }));
  }

  /** Stops the node: it applies nothing more (a message it cannot read is never skipped), and its writes reject. */
  private fail(error: RxkvError): void {
    if (this.failure !== null || this.closing) return;
    this.failure = error;
    this.following?.stop();
    for (const waiting of [...this.mine.values(), this.queue]) for (const write of waiting) write.settle.reject(error);
    this.mine.clear();
    this.queue = [];
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    this.engine.report(error);
  }

  private checkRunning(): void {
    if (this.failure !== null) throw new RxkvError(this.failure.code, `This node stopped: ${this.failure.message}`, { cause: this.failure });
  }

  /** Stores a snapshot now, or once the one being stored is (of the state then). */
  private snapshot(): void {
    if (this.snapshotting !== null) {
      this.snapshotDue = true;
      return;
    }
    this.snapshotDue = false;
    this.snapshotting = this.storeSnapshot().finally(() => {
      this.snapshotting = null;
      if (this.snapshotDue && !this.closing) this.snapshot();
    });
  }

  /**
   * Stores the state this node has published as the cluster's snapshot at its position, unless the
   * stored one is at least as new (every node holds the same state at the same position).
   */
  private async storeSnapshot(): Promise<void> {
    const position = (this.engine.stateOf(POSITION_TABLE).head.get(POSITION_KEY) as { seq: number }).seq;
    try {
      const store = (await this.log.snapshots(true))!;
      const stored = await store.info(SNAPSHOT_OBJECT);
      if (stored !== null && Number(stored.description) >= position) return;
      await store.put({ name: SNAPSHOT_OBJECT, description: String(position) }, snapshotStream(this.engine, position));
    } catch (cause) {
      this.engine.report(new RxkvError(ErrorCode.CLUSTER_UNAVAILABLE, `Could not store the snapshot at message ${position} (${(cause as Error).message}): the next one will be tried.`, { cause }));
    }
  }

  /** Waits for its writes to be published and applied (and a snapshot being stored), then lets go of the stream. */
  async close(): Promise<void> {
    while (this.failure === null && (this.publishing || this.mine.size > 0)) await new Promise((resolve) => setTimeout(resolve, 10));
    this.closing = true;
    await this.snapshotting;
    this.following?.stop();
    await this.following?.done.catch(() => undefined);
    await this.log.close();
  }
}

function recordId(table: string, key: string): string {
  return `${table}\u0000${key}`;
}

/** Why a checked write failed at its turn: what it read had changed (the transaction runs again). */
const RETRY = Symbol('retry');

/**
 * A transaction's writes as every node applies them: only if every record it read is still at the
 * version it read, all at once (one seq), else `CONFLICT` (and its node runs it again).
 */
class CheckedWrites extends MultiWriteIntent {
  constructor(
    resolve: (result: never) => void,
    reject: (error: unknown) => void,
    private readonly stateOf: (name: string) => TableState,
    private readonly reads: readonly Read[],
    writes: readonly Written[],
  ) {
    super(resolve, reject, (writer) => {
      for (const [table, key, value] of writes) writer.write(stateOf(table), key, value === undefined ? DELETE_SPEC : { verb: 'put', value: value as Json }, undefined);
    });
  }

  override apply(context: Parameters<MultiWriteIntent['apply']>[0]): ReturnType<MultiWriteIntent['apply']> {
    for (const [table, key, version] of this.reads) {
      if ((context.working.read(this.stateOf(table), key)?.version ?? 0) !== version) {
        throw new RxkvError(ErrorCode.CONFLICT, `${table}/${key} changed after the transaction read it.`, { cause: RETRY });
      }
    }
    return super.apply(context);
  }
}

/** The applied state, for a transaction run on its node: records every version read. */
class ReadRecorder implements WorkingState {
  private readonly reads = new Map<string, Read>();

  read(state: TableState, key: string): Entry | undefined {
    const entry = state.entries.get(key);
    const id = recordId(state.name, key);
    if (!this.reads.has(id)) this.reads.set(id, [state.name, key, entry?.version ?? 0]);
    return entry;
  }

  /** The transaction's own layer keeps its writes. */
  write(): void {}

  presentKeys(state: TableState): string[] {
    const keys = [...state.entries.keys()];
    for (const key of keys) this.read(state, key);
    return keys;
  }

  list(): Read[] {
    return [...this.reads.values()];
  }
}

/** The node's position was dropped from the stream: it can start over from a snapshot, if one covers it. */
class PositionGone extends Error {
  constructor(
    readonly position: number,
    readonly reason: RxkvError,
  ) {
    super(reason.message);
  }
}

/**
 * The stream seq the node in `engine` applied last, checked: its directory continues this cluster's
 * history (or is new), and the stream still holds the message after it.
 */
async function checkPosition(engine: Engine, log: ClusterStream, settings: ClusterSettings, history: string): Promise<number> {
  const stored = engine.stateOf(POSITION_TABLE).entries.get(POSITION_KEY)?.value as { history: string; seq: number } | undefined;
  if (stored === undefined && engine.seq > 0) {
    throw new RxkvError(ErrorCode.CLUSTER_POSITION_LOST, `${engine.path} holds a database that is not a node of cluster ${settings.stream}: open a new directory as the node (it loads the cluster's state).`);
  }
  if (stored !== undefined && stored.history !== history) {
    throw new RxkvError(ErrorCode.CLUSTER_POSITION_LOST, `${engine.path} is a node of another stream named ${settings.stream} (one created again since): open a new directory as the node.`);
  }
  const position = stored?.seq ?? 0;
  const { first, last } = await log.bounds();
  if (position < last && first > position + 1) {
    throw new PositionGone(
      position,
      new RxkvError(
        ErrorCode.CLUSTER_POSITION_LOST,
        `${engine.path} is at message ${position} of stream ${settings.stream}, which now starts at ${first}, and no snapshot of the cluster covers the messages between: open a new directory as the node.`,
      ),
    );
  }
  return position;
}

/**
 * Writes the cluster's snapshot into `path` (emptied first when `replace`) if it is past `after`.
 * Resolves false when there is none.
 */
async function restoreNewest(log: ClusterStream, path: string, after: number, replace = false): Promise<boolean> {
  const store = await log.snapshots(false);
  const stored = await store?.info(SNAPSHOT_OBJECT).catch((cause: unknown) => {
    throw new RxkvError(ErrorCode.CLUSTER_UNAVAILABLE, `Could not read the cluster's snapshot (${(cause as Error).message}): open the node again.`, { cause });
  });
  if (store === undefined || stored === null || stored === undefined || !(Number(stored.description) > after)) return false;
  const object = await store.get(SNAPSHOT_OBJECT);
  if (object === null) return false;
  if (replace) await rm(path, { recursive: true, force: true });
  await loadSnapshot(path, object.data);
  return true;
}
