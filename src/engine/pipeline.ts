import { Subject } from 'rxjs';
import { ErrorCode, RxkvError } from '../errors.js';
import { encodeEntry, SEQ_KEY } from '../storage/codec.js';
import type { Storage } from '../storage/storage.js';
import { toChange, type Change, type Mutation } from './change.js';
import type { Entry } from './entry.js';
import type { Intent } from './intent.js';
import type { TableState } from './table-state.js';
import { BatchState } from './working-set.js';
import type { ApplyContext } from './writes.js';

/**
 * The write pipeline: group commit.
 *
 * Intents queue up while the previous commit is in flight (or within the same tick). Then the
 * whole queue becomes one batch: applied in call order to the committed state, encoded into one
 * RocksDB batch written with one sync, and, once that is durable, published: each touched
 * table's snapshot is replaced and its `state$` emits once, the change events follow in order,
 * and the promises settle in call order. Nothing is visible before it is durable; a failed
 * commit leaves memory as it was and stops the pipeline (fail-stop: a failed sync cannot be
 * retried safely).
 *
 * One commit at a time: the binding runs each batch write on any thread of libuv's pool, so two
 * in flight could reach the WAL in either order, and an older value of a key could win on disk.
 */
export class Pipeline {
  /** The seq of the last published commit. */
  seq: number;
  /** Every change, in commit order (what `db.changes()` observes). */
  readonly changes$ = new Subject<Change>();
  /** Background failures: a failed commit, reported once. */
  readonly errors$ = new Subject<RxkvError>();

  private queue: Intent[] = [];
  private readonly working = new BatchState();
  private inFlight = false;
  private scheduled = false;
  private failure: RxkvError | null = null;
  private idle: (() => void)[] = [];
  private readonly encode: (entry: Entry) => string;

  constructor(
    private readonly storage: Storage,
    seq: number,
    maxValueBytes: number,
  ) {
    this.seq = seq;
    this.encode = (entry) => encodeEntry(entry, maxValueBytes);
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
    if (!this.inFlight && this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    queueMicrotask(this.runFlush);
  }

  private readonly runFlush = (): void => {
    this.scheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.queue.length === 0) {
      const idle = this.idle;
      this.idle = [];
      for (const resolve of idle) resolve();
      return;
    }
    const batch = this.queue;
    this.queue = [];
    const ts = Date.now();
    const working = this.working;
    const context: ApplyContext = { working, seq: 0, ts, encode: this.encode };
    const writes = this.storage.batch();
    let seq = this.seq;
    let written = false;
    for (let i = 0; i < batch.length; i++) {
      const intent = batch[i]!;
      context.seq = seq + 1;
      try {
        intent.apply(context);
      } catch (error) {
        intent.failed = true;
        intent.error = error;
        continue;
      }
      const mutations = intent.mutations;
      if (mutations.length === 0) continue;
      intent.seq = ++seq;
      written = true;
      for (let j = 0; j < mutations.length; j++) {
        const mutation = mutations[j]!;
        const key = mutation.state.storagePrefix + mutation.key;
        if (mutation.after === undefined) writes.del(key);
        else writes.put(key, mutation.encoded!);
        mutation.encoded = undefined;
      }
    }
    working.seal();
    if (!written) {
      this.publish(batch, this.seq, ts);
      this.schedule();
      return;
    }
    writes.put(SEQ_KEY, String(seq));
    this.inFlight = true;
    writes.write((error) => {
      this.inFlight = false;
      if (error) this.stop(batch, error);
      else this.publish(batch, seq, ts);
      this.afterCommit();
    });
  }

  /**
   * The next batch is applied in a task of its own, not in the microtasks of this one: the
   * callbacks of the batch just published and the apply phase of the next then run as two
   * shorter tasks, which shortens the event loop's longest stall under load.
   */
  private afterCommit(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.runFlush);
  }

  private publish(batch: Intent[], seq: number, ts: number): void {
    this.seq = seq;
    const touched = new Map<TableState, Mutation[]>();
    for (const intent of batch) {
      for (const mutation of intent.mutations) {
        const list = touched.get(mutation.state);
        if (list === undefined) touched.set(mutation.state, [mutation]);
        else list.push(mutation);
      }
    }
    for (const [state, mutations] of touched) state.apply(mutations, seq);
    for (const state of touched.keys()) state.publish();
    // Events are built only for changes someone receives.
    const everything = this.changes$.observed;
    for (const intent of batch) {
      for (const mutation of intent.mutations) {
        const { dispatcher } = mutation.state;
        if (!everything && !dispatcher.wants(mutation.key)) continue;
        const change = toChange(mutation, intent.seq, ts);
        dispatcher.deliver(change);
        if (everything) this.changes$.next(change);
      }
    }
    for (const intent of batch) {
      if (intent.failed) intent.reject(intent.error);
      else intent.resolve(intent.result as never);
    }
  }

  /**
   * A commit failed: reject its batch and everything queued, and accept no more writes.
   */
  private stop(batch: Intent[], cause: Error): void {
    this.failure = new RxkvError(
      ErrorCode.COMMIT_FAILED,
      `A commit failed (${cause.message}): its writes were not acknowledged and may or may not be found after a restart. The database accepts no more writes; reopen it.`,
      { cause },
    );
    this.reject(batch, this.failure);
    const queued = this.queue;
    this.queue = [];
    this.reject(queued, this.stoppedError());
    this.errors$.next(this.failure);
  }

  private reject(intents: Intent[], error: RxkvError): void {
    for (const intent of intents) intent.reject(intent.failed ? intent.error : error);
  }

  private stoppedError(): RxkvError {
    return new RxkvError(ErrorCode.COMMIT_FAILED, 'The database stopped accepting writes after a failed commit: reopen it.', {
      cause: this.failure,
    });
  }
}
