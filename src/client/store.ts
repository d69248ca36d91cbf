import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import type { SubscriptionFilter, WriteOp } from '../sync/protocol.js';

/** A write of the client, kept until the server answered it and the replica shows its outcome. */
export interface StoredWrite {
  /** Its mutation number: sent again under the same client id, the server applies it once. */
  readonly m: number;
  readonly ops: readonly WriteOp[];
  /** Shown in the replica before the server confirms it. */
  readonly optimistic: boolean;
  /** The seq the server committed it as: no longer sent, only shown until the replica reflects that seq. */
  readonly seq?: number;
}

/** A live subscription and the position its records reflect. */
export interface StoredSubscription {
  readonly table: string;
  readonly filter: SubscriptionFilter;
  readonly seq: number;
}

/** A record of the server's, as confirmed: table, key, value. */
export type StoredRecord = readonly [table: string, key: string, value: Json];

/** What a store holds for one persisted replica. */
export interface StoredReplica {
  /** The client id its writes were sent under. */
  readonly client: string;
  /** The next mutation number: never one used before, sent or not. */
  readonly nextMutation: number;
  /** The history its records and positions are in (undefined: none stored yet). */
  readonly history: string | undefined;
  readonly subscriptions: readonly StoredSubscription[];
  readonly records: readonly StoredRecord[];
  /** In mutation order. */
  readonly writes: readonly StoredWrite[];
}

/** One change of a store, applied as a whole or not at all. */
export interface StoreBatch {
  readonly client: string;
  readonly nextMutation: number;
  /** Writes added or replaced (by `m`). */
  readonly writes: readonly StoredWrite[];
  readonly removedWrites: readonly number[];
  /** The records with the positions they reflect: they only ever change together. */
  readonly replica?: {
    readonly history: string;
    /** Every stored subscription (the list replaces the stored one). */
    readonly subscriptions: readonly StoredSubscription[];
    /** Every stored record is dropped before `records` apply. */
    readonly reset: boolean;
    /** Records set (a value) or dropped (undefined). */
    readonly records: readonly (readonly [table: string, key: string, value: Json | undefined])[];
  };
}

/**
 * Where a persisted replica (`connect(url, { persist: store })`) keeps its records, positions and
 * pending writes: `indexedDbStore` in the browser, `fileStore` in Node, `memoryStore` anywhere,
 * or one of your own. `save` must be atomic (a batch applies whole or not at all, in call order)
 * and durable once it resolves: a write is sent to the server only after its batch resolved.
 */
export interface ReplicaStore {
  /** What the saves so far left (undefined: nothing yet). Rejects with `DATABASE_LOCKED` when another client holds the store. */
  load(): Promise<StoredReplica | undefined>;
  save(batch: StoreBatch): Promise<void>;
  /** Lets go of the store (another client may load it then). */
  close(): Promise<void>;
  /**
   * Other stores of the same replica that no client holds and that have pending writes (the slot
   * of a tab closed while offline, say), each held until its `close`: the client, once online,
   * sends their writes under their own client ids.
   */
  orphans?(): Promise<ReplicaStore[]>;
}

/** A store's state in memory, batches applied to it: what the memory and file stores keep. */
export class StoreImage {
  client: string | undefined = undefined;
  nextMutation = 1;
  history: string | undefined = undefined;
  subscriptions: readonly StoredSubscription[] = [];
  readonly records = new Map<string, StoredRecord>();
  readonly writes = new Map<number, StoredWrite>();

  apply(batch: StoreBatch): void {
    this.client = batch.client;
    this.nextMutation = batch.nextMutation;
    for (const write of batch.writes) this.writes.set(write.m, write);
    for (const m of batch.removedWrites) this.writes.delete(m);
    const { replica } = batch;
    if (replica === undefined) return;
    this.history = replica.history;
    this.subscriptions = replica.subscriptions;
    if (replica.reset) this.records.clear();
    for (const [table, key, value] of replica.records) {
      if (value === undefined) this.records.delete(table + '\0' + key);
      else this.records.set(table + '\0' + key, [table, key, value]);
    }
  }

  state(): StoredReplica | undefined {
    if (this.client === undefined) return undefined;
    return {
      client: this.client,
      nextMutation: this.nextMutation,
      history: this.history,
      subscriptions: this.subscriptions,
      records: [...this.records.values()],
      writes: [...this.writes.values()].sort((a, b) => a.m - b.m),
    };
  }
}

/**
 * A store in this process's memory: it outlives a client (`close()` then `connect` again with it,
 * as a page would after a reload) but not the process. One client holds it at a time.
 */
export function memoryStore(): ReplicaStore {
  const image = new StoreImage();
  let held = false;
  return {
    load: async () => {
      if (held) throw new RxkvError(ErrorCode.DATABASE_LOCKED, 'This memory store is held by another client: close that one first.');
      held = true;
      return image.state();
    },
    save: async (batch) => image.apply(batch),
    close: async () => {
      held = false;
    },
  };
}

/** A store's failure as a typed error: out of space (`QUOTA_EXCEEDED`) or anything else (`STORE_FAILED`). */
export function storeError(error: unknown, doing: string): RxkvError {
  if (error instanceof RxkvError) return error;
  const { name, code, message } = (error ?? {}) as { name?: string; code?: string; message?: string };
  if (name === 'QuotaExceededError' || code === 'ENOSPC' || code === 'EDQUOT') {
    return new RxkvError(ErrorCode.QUOTA_EXCEEDED, `The replica's store is out of space ${doing}: ${message ?? String(error)}.`, { cause: error });
  }
  return new RxkvError(ErrorCode.STORE_FAILED, `The replica's store failed ${doing}: ${message ?? String(error)}.`, { cause: error });
}
