import { Subject } from 'rxjs';
import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import { storeError, type ReplicaStore, type StoreBatch, type StoredSubscription, type StoredWrite } from './store.js';

/** What the session tells the persistence when it saves: the replica as it is at that moment. */
export interface PersistedReplica {
  client(): string;
  nextMutation(): number;
  /**
   * The history and the live subscriptions with their positions, when the records agree with them
   * (every live subscription synced, no resume under way); undefined otherwise: records wait.
   */
  steady(): { readonly history: string; readonly subscriptions: StoredSubscription[] } | undefined;
  /** A record as the server confirmed it (undefined: the replica does not hold it). */
  record(table: string, key: string): Json | undefined;
  /** Every record the replica holds. */
  records(): Iterable<readonly [table: string, key: string, value: Json]>;
}

/** A batch to save, and what to put back for the next one if it fails. */
interface Collected {
  readonly batch: StoreBatch;
  readonly dirty: readonly (readonly [string, string])[];
  readonly reset: boolean;
}

/** How long the save after a failed one waits, doubling with each failure in a row. */
const MIN_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 30_000;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: RxkvError) => void;
}

/**
 * Keeps a replica in its store: batches what changed since the last save (one save in flight at a
 * time, so saves apply in order), records with the positions they reflect, and each new write
 * before it may be sent. Bounded by `maxBytes` (of JSON): a write that does not fit is refused; a
 * replica whose records outgrow it stops storing them (told on `errors`), its writes still stored.
 */
export class Persistence {
  /** Failures no caller can be told of: a save of records that failed, records that outgrew the store. */
  readonly errors = new Subject<RxkvError>();
  private readonly dirty = new Map<string, readonly [string, string]>();
  private readonly puts = new Map<number, StoredWrite>();
  private readonly removed = new Set<number>();
  private readonly waiters = new Map<number, Waiter>();
  /** The stored records are of no use (another history, or too large): drop them with the next save. */
  private reset = false;
  /** The records outgrew `maxBytes`: only writes are stored. */
  private recordsOff = false;
  private moved = false;
  private scheduled = false;
  /** Until the client ends: then only `last` is saved. */
  private following = true;
  private last: Collected | null = null;
  private saving: Promise<void> | null = null;
  private readonly recordBytes = new Map<string, number>();
  private readonly writeBytes = new Map<number, number>();
  private bytes = 0;
  /** After failed saves: when the next may run, and how long the one after a further failure waits. */
  private retryAt = 0;
  private retryDelay = 0;

  constructor(
    readonly store: ReplicaStore,
    private readonly maxBytes: number,
    private readonly replica: PersistedReplica,
  ) {}

  /** Counts what was loaded against `maxBytes`. */
  loaded(records: Iterable<readonly [string, string, unknown]>, writes: Iterable<StoredWrite>): void {
    for (const write of writes) this.sizeWrite(write);
    // Sized once the stored state is shown (a stringify per record): a reopened page shows it sooner.
    setTimeout(() => {
      for (const [table, key] of records) {
        const value = this.replica.record(table, key);
        if (value !== undefined && !this.recordBytes.has(table + '\0' + key)) this.sizeRecord(table, key, value);
      }
    }, 0);
  }

  /** The bytes a write's ops take in the store (for `addWrite`); more than it has room for (`LIMIT_EXCEEDED`) throws. */
  checkRoom(ops: unknown): number {
    const bytes = JSON.stringify(ops).length;
    if (this.bytes + bytes > this.maxBytes) {
      throw new RxkvError(ErrorCode.LIMIT_EXCEEDED, `The persisted replica holds ${this.bytes} bytes and this write needs ${bytes} more than maxStoredBytes (${this.maxBytes}) allows: it was not sent.`);
    }
    return bytes;
  }

  /** A record of the replica changed. */
  recordChanged(table: string, key: string): void {
    if (this.recordsOff) return;
    this.dirty.set(table + '\0' + key, [table, key]);
    this.schedule();
  }

  /** The replica's positions moved (or its subscriptions changed). */
  positionsMoved(): void {
    this.moved = true;
    this.schedule();
  }

  /** The stored records belong to another history: they go with the next save that has the new ones. */
  resetRecords(): void {
    this.reset = true;
    this.dirty.clear();
    this.schedule();
  }

  /** Stores a new write of `bytes` (from `checkRoom`); resolves once it is stored (rejects with the store's typed error). */
  addWrite(write: StoredWrite, bytes: number): Promise<void> {
    this.bytes += bytes;
    this.writeBytes.set(write.m, bytes);
    return new Promise((resolve, reject) => {
      this.waiters.set(write.m, { resolve, reject });
      this.putWrite(write);
    });
  }

  /** Stores what became of a write (committed: its seq). */
  putWrite(write: StoredWrite): void {
    this.sizeWrite(write);
    this.puts.set(write.m, write);
    this.removed.delete(write.m);
    this.schedule();
  }

  removeWrite(m: number): void {
    this.bytes -= this.writeBytes.get(m) ?? 0;
    this.writeBytes.delete(m);
    this.puts.delete(m);
    this.removed.add(m);
    this.settle(m, undefined); // settled before it was stored: no one waits for that any more
    this.schedule();
  }

  /**
   * The client ends: the replica as it is now is the last state stored (what its ending does to it,
   * streams detached and records dropped, is not a change of the server's).
   */
  detach(): void {
    if (!this.following) return;
    this.last = this.collect();
    this.following = false;
  }

  /** Saves the last state, waits for it, and lets go of the store. */
  async close(): Promise<void> {
    this.detach();
    while (this.saving !== null) await this.saving;
    if (this.last !== null) await this.save(this.last);
    this.last = null;
    await this.store.close();
  }

  private schedule(): void {
    if (this.scheduled || !this.following) return;
    this.scheduled = true;
    const run = (): void => {
      if (!this.scheduled) return;
      this.scheduled = false;
      this.flush();
    };
    // After a failed save, the next waits: a store that keeps failing is not retried in a loop.
    const wait = this.retryAt - Date.now();
    if (wait <= 0) queueMicrotask(run);
    else (setTimeout(run, wait) as { unref?: () => void }).unref?.();
  }

  private flush(): void {
    if (this.saving !== null || !this.following) return; // what changed meanwhile goes with the next one
    const batch = this.collect();
    if (batch !== null) this.save(batch);
  }

  /** What changed since the last save, taken out of the sets (put back if its save fails). */
  private collect(): Collected | null {
    const steady = this.recordsOff && !this.reset ? undefined : this.replica.steady();
    const withReplica = steady !== undefined && (this.dirty.size > 0 || this.moved || this.reset);
    if (this.puts.size === 0 && this.removed.size === 0 && !withReplica) return null;
    const writes = [...this.puts.values()];
    const removedWrites = [...this.removed];
    this.puts.clear();
    this.removed.clear();
    let dirty: (readonly [string, string])[] = [];
    let reset = false;
    let replica: StoreBatch['replica'];
    if (withReplica) {
      reset = this.reset;
      dirty = [...this.dirty.values()];
      this.dirty.clear();
      this.moved = false;
      this.reset = false;
      // Records no longer stored: none, and no position either (a reload takes snapshots).
      replica = (this.recordsOff ? undefined : this.replicaPart(steady, reset, dirty)) ?? { history: steady.history, subscriptions: [], reset: true, records: [] };
    }
    const batch: StoreBatch = { client: this.replica.client(), nextMutation: this.replica.nextMutation(), writes, removedWrites, ...(replica === undefined ? {} : { replica }) };
    return { batch, dirty, reset };
  }

  private save({ batch, dirty, reset }: Collected): Promise<void> {
    const { writes, removedWrites, replica } = batch;
    const saved = this.store.save(batch).then(
      () => {
        this.retryDelay = 0;
        for (const write of writes) this.settle(write.m, undefined);
      },
      (failure: unknown) => {
        const error = storeError(failure, 'saving the replica');
        this.retryDelay = Math.min(MAX_RETRY_DELAY_MS, Math.max(MIN_RETRY_DELAY_MS, this.retryDelay * 2));
        this.retryAt = Date.now() + this.retryDelay;
        for (const write of writes) {
          if (this.waiters.has(write.m)) this.settle(write.m, error);
          else if (!this.puts.has(write.m) && !this.removed.has(write.m)) this.puts.set(write.m, write);
        }
        for (const m of removedWrites) if (!this.puts.has(m)) this.removed.add(m);
        if (replica !== undefined) {
          for (const [table, key] of dirty) this.dirty.set(table + '\0' + key, [table, key]);
          if (reset) this.reset = true;
          this.moved = true;
          // Out of space: the records give way to the writes (dropped from the store with the next save).
          if (error.code === ErrorCode.QUOTA_EXCEEDED && !this.recordsOff) this.stopStoringRecords();
          this.errors.next(error);
        }
      },
    );
    this.saving = saved.finally(() => {
      this.saving = null;
      if (this.puts.size > 0 || this.removed.size > 0 || this.dirty.size > 0 || this.moved || this.reset) this.schedule();
    });
    return this.saving;
  }

  /** The records part of a save; undefined when the records outgrow the store (they stop being stored). */
  private replicaPart(steady: NonNullable<ReturnType<PersistedReplica['steady']>>, reset: boolean, dirty: readonly (readonly [string, string])[]): StoreBatch['replica'] {
    const records: (readonly [string, string, Json | undefined])[] = [];
    if (reset) {
      for (const id of this.recordBytes.keys()) this.bytes -= this.recordBytes.get(id)!;
      this.recordBytes.clear();
      for (const [table, key, value] of this.replica.records()) {
        this.sizeRecord(table, key, value);
        records.push([table, key, value]);
      }
    } else {
      for (const [table, key] of dirty) {
        const value = this.replica.record(table, key);
        this.sizeRecord(table, key, value);
        records.push([table, key, value]);
      }
    }
    if (this.bytes <= this.maxBytes) return { ...steady, reset, records };
    this.stopStoringRecords();
    this.reset = false; // this save drops them
    this.errors.next(
      new RxkvError(ErrorCode.LIMIT_EXCEEDED, `The replica's records outgrew maxStoredBytes (${this.maxBytes}): they are no longer stored (a reload downloads them again); its pending writes still are.`),
    );
    return undefined;
  }

  /** From now on only writes are stored; the stored records and positions go with the next save. */
  private stopStoringRecords(): void {
    this.recordsOff = true;
    this.reset = true;
    this.dirty.clear();
    for (const size of this.recordBytes.values()) this.bytes -= size;
    this.recordBytes.clear();
  }

  private settle(m: number, error: RxkvError | undefined): void {
    const waiter = this.waiters.get(m);
    if (waiter === undefined) return;
    this.waiters.delete(m);
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
  }

  private sizeRecord(table: string, key: string, value: Json | undefined): void {
    const id = table + '\0' + key;
    const size = value === undefined ? 0 : id.length + JSON.stringify(value).length;
    this.bytes += size - (this.recordBytes.get(id) ?? 0);
    if (size === 0) this.recordBytes.delete(id);
    else this.recordBytes.set(id, size);
  }

  /** Counts a write once: its ops never change (a later put only adds its seq). */
  private sizeWrite(write: StoredWrite): void {
    if (this.writeBytes.has(write.m)) return;
    const size = JSON.stringify(write.ops).length;
    this.bytes += size;
    this.writeBytes.set(write.m, size);
  }
}
