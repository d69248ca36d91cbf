import { Subject } from 'rxjs';
import { ErrorCode, RxkvError } from '../errors.js';
import { encodeEntry, recordKey, SEQ_KEY } from '../storage/codec.js';
import type { BatchOp, Storage } from '../storage/storage.js';
import { toChange, type Change, type Mutation } from './change.js';
import type { Entry } from './entry.js';
import type { Intent } from './intent.js';
import type { TableState } from './table-state.js';
import { WorkingSet } from './working-set.js';
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
 */
export class Pipeline {
  /** The seq of the last published commit. */
  seq: number;
  /** Every change, in commit order (what `db.changes()` observes). */
  readonly changes$ = new Subject<Change>();
  /** Background failures: a failed commit, reported once. */
  readonly errors$ = new Subject<RxkvError>();

  private queue: Intent[] = [];
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
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

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
    const working = new WorkingSet();
    const ops: BatchOp[] = [];
    let seq = this.seq;
    for (const intent of batch) {
      const context: ApplyContext = { working, seq: seq + 1, ts, encode: this.encode };
      try {
        intent.apply(context);
      } catch (error) {
        intent.failed = true;
        intent.error = error;
        continue;
      }
      if (intent.mutations.length === 0) continue;
      intent.seq = ++seq;
      for (const { state, key, after, encoded } of intent.mutations) {
        const storageKey = recordKey(state.name, key);
        ops.push(after === undefined ? { type: 'del', key: storageKey } : { type: 'put', key: storageKey, value: encoded! });
      }
    }
    if (ops.length === 0) {
      this.publish(batch, this.seq, ts);
      this.schedule();
      return;
    }
    ops.push({ type: 'put', key: SEQ_KEY, value: String(seq) });
    this.inFlight = true;
    this.storage.write(ops, (error) => {
      this.inFlight = false;
      if (error) this.stop(batch, error);
      else this.publish(batch, seq, ts);
      this.schedule();
    });
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

  /** A commit failed: reject its batch and everything after it, and accept no more writes. */
  private stop(batch: Intent[], cause: Error): void {
    this.failure = new RxkvError(
      ErrorCode.COMMIT_FAILED,
      `A commit failed (${cause.message}): its writes were not acknowledged and may or may not be found after a restart. The database accepts no more writes; reopen it.`,
      { cause },
    );
    for (const intent of batch) intent.reject(intent.failed ? intent.error : this.failure);
    const queued = this.queue;
    this.queue = [];
    for (const intent of queued) intent.reject(this.stoppedError());
    this.errors$.next(this.failure);
  }

  private stoppedError(): RxkvError {
    return new RxkvError(ErrorCode.COMMIT_FAILED, 'The database stopped accepting writes after a failed commit: reopen it.', {
      cause: this.failure,
    });
  }
}
