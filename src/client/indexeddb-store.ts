import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import { storeError, type ReplicaStore, type StoreBatch, type StoredRecord, type StoredReplica, type StoredSubscription, type StoredWrite } from './store.js';

export interface IndexedDbStoreOptions {
  /** The IndexedDB to use (default: the page's `indexedDB`; a storage bucket's, say, for a quota of its own). */
  readonly indexedDB?: IDBFactory;
}

/** Slots a replica's store has at most: as many tabs can hold one at a time. */
const MAX_SLOTS = 64;

/**
 * A persisted replica's store in IndexedDB (the browser). Each tab holds a slot of its own (a Web
 * Lock names it; a reload takes the same slot again), so two tabs never write over each other's
 * replica or pending writes. A client sends the pending writes of slots no tab holds any more
 * (`orphans`: a tab closed while offline), under their own client ids: each is applied once.
 *
 * @example
 * const remote = connect('wss://example.com/sync', { persist: indexedDbStore('todos'), optimistic: true });
 */
export function indexedDbStore(name: string, options: IndexedDbStoreOptions = {}): ReplicaStore {
  if (typeof name !== 'string' || name === '') throw new RxkvError(ErrorCode.INVALID_ARGUMENT, 'indexedDbStore(name): name must be a non-empty string.');
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (factory === undefined) throw new RxkvError(ErrorCode.INVALID_ARGUMENT, 'indexedDbStore: this environment has no IndexedDB (in Node, use fileStore or memoryStore).');
  return new SlotChooser(factory, name);
}

/** The store of the slot this client takes: the one its tab had before a reload, else the lowest free one. */
class SlotChooser implements ReplicaStore {
  private slot: SlotStore | null = null;

  constructor(
    private readonly factory: IDBFactory,
    private readonly name: string,
  ) {}

  async load(): Promise<StoredReplica | undefined> {
    const remembered = Number(sessionStore()?.getItem(this.rememberKey()) ?? NaN);
    const order = [...(Number.isInteger(remembered) ? [remembered] : []), ...Array.from({ length: MAX_SLOTS }, (_, slot) => slot).filter((slot) => slot !== remembered)];
    for (const slot of order) {
      const release = await takeLock(lockName(this.name, slot));
      if (release === null) continue;
      sessionStore()?.setItem(this.rememberKey(), String(slot));
      this.slot = new SlotStore(this.factory, this.name, slot, release);
      return this.slot.load().catch((error: unknown) => {
        this.slot = null;
        release();
        throw error;
      });
    }
    throw new RxkvError(ErrorCode.DATABASE_LOCKED, `All ${MAX_SLOTS} slots of the replica store "${this.name}" are held by other tabs.`);
  }

  save(batch: StoreBatch): Promise<void> {
    return this.slot!.save(batch);
  }

  async close(): Promise<void> {
    await this.slot?.close();
    this.slot = null;
  }

  /** The slots no tab holds that have pending writes: each taken (locked) until its `close`. */
  async orphans(): Promise<ReplicaStore[]> {
    const listed = await this.factory.databases?.().catch(() => []);
    const prefix = databaseName(this.name, '');
    const found: ReplicaStore[] = [];
    for (const { name } of listed ?? []) {
      if (name === undefined || !name.startsWith(prefix)) continue;
      const slot = Number(name.slice(prefix.length));
      if (!Number.isInteger(slot) || slot === this.slot?.slot) continue;
      const release = await takeLock(lockName(this.name, slot));
      if (release === null) continue; // a live tab's
      const store = new SlotStore(this.factory, this.name, slot, release);
      if (await store.hasWrites().catch(() => false)) found.push(store);
      else await store.close();
    }
    return found;
  }

  private rememberKey(): string {
    return `rxkv:${this.name}:slot`;
  }
}

/** One slot's database: `meta` (client id, next mutation, history and subscriptions), `records` by [table, key], `writes` by mutation number. */
class SlotStore implements ReplicaStore {
  private db: IDBDatabase | null = null;

  constructor(
    private readonly factory: IDBFactory,
    private readonly name: string,
    readonly slot: number,
    private readonly release: () => void,
  ) {}

  async load(): Promise<StoredReplica | undefined> {
    try {
      const db = await this.open();
      const tx = db.transaction(['meta', 'records', 'writes'], 'readonly');
      const meta = tx.objectStore('meta');
      const records = tx.objectStore('records');
      const [identity, replica, keys, values, writes] = await Promise.all([
        request<{ client: string; nextMutation: number } | undefined>(meta.get('identity')),
        request<{ history: string; subscriptions: StoredSubscription[] } | undefined>(meta.get('replica')),
        request(records.getAllKeys()),
        request<Json[]>(records.getAll()),
        request<StoredWrite[]>(tx.objectStore('writes').getAll()),
      ]);
      if (identity === undefined) return undefined;
      return {
        client: identity.client,
        nextMutation: identity.nextMutation,
        history: replica?.history,
        subscriptions: replica?.subscriptions ?? [],
        records: keys.map((key, at): StoredRecord => [(key as [string, string])[0], (key as [string, string])[1], values[at]!]),
        writes,
      };
    } catch (error) {
      throw storeError(error, `reading the IndexedDB store "${this.name}"`);
    }
  }

  async save(batch: StoreBatch): Promise<void> {
    try {
      const db = await this.open();
      const tx = db.transaction(['meta', 'records', 'writes'], 'readwrite');
      const meta = tx.objectStore('meta');
      meta.put({ client: batch.client, nextMutation: batch.nextMutation }, 'identity');
      const writes = tx.objectStore('writes');
      for (const write of batch.writes) writes.put(write, write.m);
      for (const m of batch.removedWrites) writes.delete(m);
      const { replica } = batch;
      if (replica !== undefined) {
        meta.put({ history: replica.history, subscriptions: replica.subscriptions }, 'replica');
        const records = tx.objectStore('records');
        if (replica.reset) records.clear();
        for (const [table, key, value] of replica.records) {
          if (value === undefined) records.delete([table, key]);
          else records.put(value, [table, key]);
        }
      }
      await completed(tx);
    } catch (error) {
      throw storeError(error, `writing the IndexedDB store "${this.name}"`);
    }
  }

  async hasWrites(): Promise<boolean> {
    const db = await this.open();
    return (await request(db.transaction('writes', 'readonly').objectStore('writes').count())) > 0;
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
    this.release();
  }

  private async open(): Promise<IDBDatabase> {
    if (this.db !== null) return this.db;
    const opening = this.factory.open(databaseName(this.name, String(this.slot)), 1);
    opening.onupgradeneeded = () => {
      const db = opening.result;
      db.createObjectStore('meta');
      db.createObjectStore('records');
      db.createObjectStore('writes');
    };
    this.db = await request(opening);
    return this.db;
  }
}

function databaseName(name: string, slot: string): string {
  return `rxkv:${name}:${slot}`;
}

function lockName(name: string, slot: number): string {
  return `rxkv:${name}:${slot}`;
}

/** Takes a Web Lock if no one holds it: its release, or null. Without Web Locks, every lock is free. */
function takeLock(name: string): Promise<(() => void) | null> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (locks === undefined) return Promise.resolve(() => undefined);
  return new Promise((resolve, reject) => {
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (lock === null) {
          resolve(null);
          return undefined;
        }
        return new Promise<void>((release) => resolve(release));
      })
      .catch(reject);
  });
}

function sessionStore(): Storage | undefined {
  try {
    return (globalThis as { sessionStorage?: Storage }).sessionStorage;
  } catch {
    return undefined; // storage access denied
  }
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function completed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
  });
}
