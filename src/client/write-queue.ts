import { ErrorCode, RxkvError } from '../errors.js';
import type { WriteOp } from '../sync/protocol.js';

/** One write of the client, from the call until its outcome: sent, and sent again, as mutation `m`. */
export class PendingWrite {
  settled = false;
  /** In the replica's store, when it has one: only then may it be sent (its mutation number is never reused). */
  stored = true;
  timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    /** Its mutation number: the server applies each number of this client once. */
    readonly m: number,
    readonly ops: readonly WriteOp[],
    readonly resolve: (seq: number) => void,
    readonly reject: (error: unknown) => void,
  ) {}
}

/**
 * The client's writes that have no outcome yet, in mutation order. They outlive connections: each
 * new connection sends them again, and the server answers one it already applied with its original
 * seq. So a write resolves once and applies once across drops and restarts; one with no outcome
 * within `timeout` rejects with `TIMEOUT` and is not sent again.
 */
export class WriteQueue {
  private readonly unsettled = new Map<number, PendingWrite>();
  private next = 1;

  constructor(private readonly timeout: number) {}

  /** The mutation number the next write gets. */
  get nextMutation(): number {
    return this.next;
  }

  /** A write of an earlier client on the same store (restored from it): sent as it was, with no timeout. */
  restore(m: number, ops: readonly WriteOp[], resolve: (seq: number) => void, reject: (error: unknown) => void): PendingWrite {
    const write = new PendingWrite(m, ops, resolve, reject);
    this.unsettled.set(m, write);
    if (m >= this.next) this.next = m + 1;
    return write;
  }

  /** Numbers below `next` were used by an earlier client on the same store. */
  startAt(next: number): void {
    if (next > this.next) this.next = next;
  }

  add(ops: readonly WriteOp[], resolve: (seq: number) => void, reject: (error: unknown) => void): PendingWrite {
    const write = new PendingWrite(this.next++, ops, resolve, reject);
    this.unsettled.set(write.m, write);
    if (this.timeout > 0) {
      write.timer = setTimeout(
        () => this.reject(write, new RxkvError(ErrorCode.TIMEOUT, `No answer to this write within writeTimeout (${this.timeout} ms): it was applied at most once, maybe not at all; read the record to know.`)),
        this.timeout,
      );
    }
    return write;
  }

  /** How many have no outcome yet. */
  get size(): number {
    return this.unsettled.size;
  }

  /** Every write up to this mutation number has its outcome: the server may forget them. */
  get ack(): number {
    for (const m of this.unsettled.keys()) return m - 1;
    return this.next - 1;
  }

  /** The writes without an outcome, in mutation order: what a new connection sends. */
  all(): PendingWrite[] {
    return [...this.unsettled.values()];
  }

  resolve(write: PendingWrite, seq: number): void {
    if (this.settle(write)) write.resolve(seq);
  }

  reject(write: PendingWrite, error: unknown): void {
    if (this.settle(write)) write.reject(error);
  }

  rejectAll(error: unknown): void {
    for (const write of this.all()) this.reject(write, error);
  }

  private settle(write: PendingWrite): boolean {
    if (write.settled) return false;
    write.settled = true;
    if (write.timer !== null) clearTimeout(write.timer);
    this.unsettled.delete(write.m);
    return true;
  }
}
