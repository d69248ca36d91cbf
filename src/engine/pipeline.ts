import { Subject } from 'rxjs';
import { ErrorCode, RxkvError } from '../errors.js';
import { encodeEntry } from '../storage/codec.js';
import type { Loaded, Storage, StorageBatch } from '../storage/storage.js';
import { jsonEqual } from '../json/equal.js';
import type { Entry } from '../model/record.js';
import { Mutation, toChange } from './mutation.js';
import { ChangeDispatcher } from './dispatch.js';
import type { Intent } from './intent.js';
import type { TableState } from './table-state.js';
import { DeleteLog, type DeleteRetention } from './delete-log.js';
import { BatchState } from './working-set.js';
import type { ApplyContext } from './writes.js';

/** A batch applied and encoded, waiting for its write or in it. */
interface Commit {
  readonly intents: Intent[];
  /** What its intents wrote, in order. */
  readonly mutations: Mutation[];
  readonly seq: number;
  /** Its storage batch, or null when it writes nothing (all no-ops or rejections). */
  readonly writes: StorageBatch | null;
}

/**
 * The most intents in one batch. A cap lets the next batch be applied while the previous one
 * syncs even when every writer is waiting (a full window of writes would otherwise all sit in
 * the one batch in flight), and keeps each task of the event loop short.
 */
const MAX_BATCH = 512;

/**
 * The write pipeline: group commit.
 *
 * Intents queue up while the commit ahead of them is in flight (or within the same tick). Then
 * the queue (up to MAX_BATCH intents) becomes one batch: applied in call order to the state every
 * earlier batch left, encoded into one RocksDB batch, written with one sync, and, once durable,
 * published: each touched table's snapshot is replaced and its `state$` emits once, the change
 * events follow in order, and the promises settle in call order. Nothing is visible before it is
 * durable.
 *
 * Storage writes are strictly serial: the binding runs each on any thread of libuv's pool, so two
 * in flight could reach the WAL in either order and an older value of a key could win on disk.
 * What overlaps is the work around them: while one batch syncs, the next is applied and encoded
 * (prepared), and its write starts the moment the first one returns.
 *
 * A failed commit leaves memory as it was, rejects its batch, the prepared one (built on it) and
 * everything queued, and stops the pipeline (fail-stop: a failed sync cannot be retried safely).
 */
export class Pipeline {
  /** The seq of the last published commit. */
  seq: number;
  /** Routes every change to the database-wide subscribers (`db.changes()`). */
  readonly dispatcher = new ChangeDispatcher();
  /** Background failures: a failed commit, an index function that threw. */
  readonly errors$ = new Subject<RxkvError>();
  /** The recent deletes, for readers resuming from a seq. */
  readonly deletes: DeleteLog;
  /** Errors met while a commit is published, reported once it is (never halfway through). */
  private deferred: RxkvError[] | null = null;

  private queue: Intent[] = [];
  private readonly working = new BatchState();
  /** The seq of the last applied batch, published or not. */
  private appliedSeq: number;
  private writing: Commit | null = null;
  private prepared: Commit | null = null;
  private scheduled = false;
  private failure: RxkvError | null = null;
  private idle: (() => void)[] = [];
  private readonly encode: (entry: Entry, state: TableState) => string;

  constructor(
    private storage: Storage,
    loaded: Loaded,
    maxValueBytes: number,
    retention: DeleteRetention,
  ) {
    this.seq = loaded.seq;
    this.appliedSeq = loaded.seq;
    this.deletes = new DeleteLog(retention, loaded);
    // The package's own tables are bounded by their own rules, not by the user's largest record.
    this.encode = (entry, state) => encodeEntry(entry, state.internal ? Number.POSITIVE_INFINITY : maxValueBytes);
  }

  submit(intent: Intent): void {
    if (this.failure !== null) {
      intent.reject(this.stoppedError());
      return;
    }
    this.queue.push(intent);
    this.schedule();
  }

  /** Resolves once every intent submitted so far has settled. */
  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Whether writes are queued or being committed. */
  get busy(): boolean {
    return !this.isIdle();
  }

  private isIdle(): boolean {
    return this.writing === null && this.prepared === null && this.queue.length === 0 && !this.scheduled;
  }

  private schedule(): void {
    if (this.scheduled || this.prepared !== null) return;
    this.scheduled = true;
    queueMicrotask(this.runFlush);
  }

  private readonly runFlush = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Applies the queue as the next batch: written at once if storage is free, else prepared. */
  private flush(): void {
    if (this.queue.length === 0 || this.prepared !== null || this.failure !== null) {
      if (this.isIdle()) this.notifyIdle();
      return;
    }
    const commit = this.apply();
    if (this.writing === null) this.write(commit);
    else this.prepared = commit;
    // What the cap left in the queue can be prepared while this batch is written.
    if (this.queue.length > 0) this.scheduleTask();
  }

  private apply(): Commit {
    let cut = Math.min(this.queue.length, MAX_BATCH);
    while (!this.queue[cut - 1]!.endsGroup) cut++; // a group is committed whole, never split
    const intents = cut === this.queue.length ? this.queue : this.queue.slice(0, cut);
    this.queue = cut === this.queue.length ? [] : this.queue.slice(cut);
    const now = Date.now();
    const context: ApplyContext = { working: this.working, seq: 0, ts: now, encode: this.encode };
    const mutations: Mutation[] = [];
    let writes: StorageBatch | null = null;
    const first = this.appliedSeq + 1;
    let seq = this.appliedSeq;
    for (let i = 0; i < intents.length; i++) {
      const intent = intents[i]!;
      context.seq = seq + 1;
      context.ts = intent.ts ?? now;
      let written: Mutation | readonly Mutation[] | null;
      try {
        written = intent.apply(context);
      } catch (error) {
        intent.failed = true;
        intent.error = error;
        continue;
      }
      if (written === null) continue;
      seq += 1;
      writes ??= this.storage.batch();
      if (written instanceof Mutation) {
        this.stage(writes, written, seq, context.ts);
        mutations.push(written);
      } else {
        for (let j = 0; j < written.length; j++) {
          this.stage(writes, written[j]!, seq, context.ts);
          mutations.push(written[j]!);
        }
      }
    }
    if (writes !== null) {
      writes.mark(first, seq);
      this.deletes.prune(now, writes);
    }
    this.appliedSeq = seq;
    return { intents, mutations, seq, writes };
  }

  private stage(writes: StorageBatch, mutation: Mutation, seq: number, ts: number): void {
    mutation.seq = seq;
    mutation.ts = ts;
    const { name } = mutation.state;
    if (mutation.after === undefined) {
      writes.del(name, mutation.key);
      if (!mutation.state.internal) {
        writes.recordDelete(name, mutation.key, seq, ts);
        this.deletes.staged(name, mutation.key, seq, ts);
      }
    } else {
      writes.put(name, mutation.key, mutation.encoded!);
    }
    mutation.encoded = undefined; // handed over: let the string die young
  }

  private write(commit: Commit): void {
    this.writing = commit;
    if (commit.writes === null) {
      this.written(commit, null);
      return;
    }
    commit.writes.write((error) => this.written(commit, error));
  }

  private written(commit: Commit, error: Error | null): void {
    this.writing = null;
    if (error !== null) {
      this.stop(commit, error);
      return;
    }
    // Keep the disk busy: the prepared batch goes to storage before this one is published. One
    // with nothing to write settles at once, so it waits for this one's publication.
    const prepared = this.prepared;
    this.prepared = null;
    if (prepared !== null && prepared.writes !== null) this.write(prepared);
    this.publish(commit);
    if (commit.writes !== null) this.storage.published(commit.seq);
    if (prepared !== null && prepared.writes === null) this.write(prepared);
    this.scheduleTask();
  }

  /**
   * Schedules `flush` in a task of its own, not in the microtasks of this one: after a commit,
   * the callbacks of the batch just published and the apply phase of the next then run as two
   * shorter tasks, which shortens the event loop's longest stall under load.
   */
  private scheduleTask(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.runFlush);
  }

  private notifyIdle(): void {
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  /** Reports a background error: at once, or after the commit being published. */
  report(error: RxkvError): void {
    if (this.deferred !== null) this.deferred.push(error);
    else this.errors$.next(error);
  }

  private publish(commit: Commit): void {
    this.deferred = [];
    try {
      this.publishCommit(commit);
    } finally {
      const errors = this.deferred;
      this.deferred = null;
      for (const error of errors) this.errors$.next(error);
    }
  }

  private publishCommit({ intents, mutations, seq }: Commit): void {
    this.seq = seq;
    const touched = new Map<TableState, Mutation[]>();
    for (let i = 0; i < mutations.length; i++) {
      const mutation = mutations[i]!;
      this.working.published(mutation.state, mutation.key, mutation.seq);
      const list = touched.get(mutation.state);
      if (list === undefined) touched.set(mutation.state, [mutation]);
      else list.push(mutation);
    }
    for (const [state, list] of touched) state.apply(list, seq);
    for (const state of touched.keys()) state.publish();
    // Events are built only for changes someone may receive.
    for (let i = 0; i < mutations.length; i++) {
      const mutation = mutations[i]!;
      const table = mutation.state.dispatcher;
      const forTable = table.wants(mutation.key);
      const forDatabase = !mutation.state.internal && this.dispatcher.wants(mutation.key);
      if (!forTable && !forDatabase) continue;
      const change = toChange(mutation);
      if (forTable) table.deliver(change);
      if (forDatabase) this.dispatcher.deliver(change);
    }
    for (const intent of intents) {
      if (intent.failed) intent.reject(intent.error);
      else intent.resolve(intent.result as never);
    }
  }

  /**
   * A commit failed: reject its batch, the prepared one and everything queued, forget what they
   * wrote, and accept no more writes.
   */
  private stop(commit: Commit, cause: Error): void {
    this.failure = new RxkvError(
      ErrorCode.COMMIT_FAILED,
      `A commit failed (${cause.message}): its writes were not acknowledged and may or may not be found after a restart. The database accepts no more writes until db.recover() reopens it from disk.`,
      { cause },
    );
    this.working.clear();
    this.reject(commit.intents, this.failure);
    const stopped = this.stoppedError();
    if (this.prepared !== null) this.reject(this.prepared.intents, stopped);
    this.prepared = null;
    const queued = this.queue;
    this.queue = [];
    this.reject(queued, stopped);
    this.errors$.next(this.failure);
    this.notifyIdle();
  }

  private reject(intents: Intent[], error: RxkvError): void {
    for (const intent of intents) intent.reject(intent.failed ? intent.error : error);
  }

  /** Whether a failed commit stopped the pipeline (until `resume`). */
  get stopped(): boolean {
    return this.failure !== null;
  }

  /**
   * After a failed commit, what differs between memory and what storage holds (the failed batch
   * may or may not have reached the disk), as mutations that take memory to the durable state.
   */
  differences(loaded: Loaded, tables: { state(name: string): TableState; all(): Iterable<TableState> }): Mutation[] {
    const mutations: Mutation[] = [];
    for (const [name, { entries }] of loaded.tables) {
      const state = tables.state(name);
      for (const [key, entry] of entries) {
        const before = state.entries.get(key);
        if (before === undefined || before.version !== entry.version || !jsonEqual(before.value, entry.value)) {
          mutations.push(durableMutation(state, key, before, entry, loaded.seq));
        }
      }
    }
    for (const state of tables.all()) {
      const durable = loaded.tables.get(state.name)?.entries;
      for (const [key, before] of state.entries) {
        if (durable === undefined || !durable.has(key)) mutations.push(durableMutation(state, key, before, undefined, loaded.seq));
      }
    }
    return mutations;
  }

  /**
   * Resumes on storage reopened from disk: publishes `differences` as changes, then accepts
   * writes again.
   */
  resume(storage: Storage, loaded: Loaded, differences: Mutation[]): void {
    this.storage = storage;
    this.failure = null;
    this.appliedSeq = Math.max(this.seq, loaded.seq);
    this.publish({ intents: [], mutations: differences, seq: this.appliedSeq, writes: null });
  }

  private stoppedError(): RxkvError {
    return new RxkvError(ErrorCode.COMMIT_FAILED, 'The database stopped accepting writes after a failed commit: call db.recover() to reopen it from disk.', {
      cause: this.failure,
    });
  }
}

function durableMutation(state: TableState, key: string, before: Entry | undefined, after: Entry | undefined, seq: number): Mutation {
  const mutation = new Mutation(state, key, before, after, undefined);
  mutation.seq = after?.version ?? seq;
  mutation.ts = Date.now();
  return mutation;
}

