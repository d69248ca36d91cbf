import type { Entry } from '../model/record.js';
import type { CommitRecord } from './commit-log.js';

/** What opening finds on disk: every table's entries in key order, the last commit's seq, the commit record. */
export interface Loaded {
  seq: number;
  /** The history id last started (undefined in a new store, or one made before history ids). */
  history: string | undefined;
  tables: Map<string, { entries: Map<string, Entry>; keys: string[] }>;
  commits: CommitRecord;
  /** The deletes kept, by table and key: the seq and time of each record's last delete. */
  deletes: Map<string, Map<string, { seq: number; ts: number }>>;
  /** Deletes up to this seq are no longer kept (undefined: the store never kept any). */
  deletesFloor: number | undefined;
  /** A backup was being written into the store and never finished: it is not a database. */
  incomplete: boolean;
}

/**
 * One commit's writes, built up in place and written atomically; `done` is called once the
 * batch is as durable as the database's durability mode promises.
 */
export interface StorageBatch {
  /** Writes a record of a table, encoded by `encodeEntry`. */
  put(table: string, key: string, encoded: string): void;
  del(table: string, key: string): void;
  /** Records that this batch holds the commits of seqs first..last (the commit record). */
  mark(first: number, last: number): void;
  /** Keeps the delete of a record, by commit `seq` at time `ts`: what readers resuming from an older seq are told. */
  recordDelete(table: string, key: string, seq: number, ts: number): void;
  /** Stops keeping these deletes: deletes up to `floor` are no longer kept. */
  forgetDeletes(deletes: readonly (readonly [table: string, key: string])[], floor: number): void;
  write(done: (error: Error | null) => void): void;
}

/** Where commits go. */
export interface Storage {
  load(): Promise<Loaded>;
  batch(): StorageBatch;
  /** A commit was published: the storage may keep its own records of it up to date. */
  published(seq: number): void;
  /**
   * Everything up to `seq` is known good (after opening, or salvaging): the commit record starts
   * over from there.
   */
  checkpoint(seq: number): Promise<void>;
  /**
   * Records, durably, that the store's history is `id` from now on: a new store's, or one that can
   * no longer continue the history its readers followed (commits given up, a copy).
   */
  startHistory(id: string): Promise<void>;
  /** Marks the store, durably, as a backup being written: it refuses to load as a database until `finishCopy`. */
  startCopy(): Promise<void>;
  /** Ends a backup: the store holds the commits up to `seq` of a history of its own, durably. */
  finishCopy(seq: number, history: string): Promise<void>;
  /**
   * After a failed commit: resolves once storage takes a synced write again, or rejects after
   * `ms`. Closing RocksDB while its automatic error recovery waits to retry never returns
   * (facebook/rocksdb#11440, RocksDB 6.17): so it is closed only once it works again.
   */
  writable(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** `durability: 'memory'`: nothing is persisted; a commit completes at once. */
export class MemoryStorage implements Storage {
  async load(): Promise<Loaded> {
    return { seq: 0, history: undefined, tables: new Map(), commits: { flushed: 0, markers: [], watermark: 0 }, deletes: new Map(), deletesFloor: undefined, incomplete: false };
  }

  batch(): StorageBatch {
    return NOTHING_TO_WRITE;
  }

  published(): void {}

  async checkpoint(): Promise<void> {}

  async startHistory(): Promise<void> {}

  async startCopy(): Promise<void> {}

  async finishCopy(): Promise<void> {}

  async writable(): Promise<void> {}

  async close(): Promise<void> {}
}

const NOTHING_TO_WRITE: StorageBatch = {
  put() {},
  del() {},
  mark() {},
  recordDelete() {},
  forgetDeletes() {},
  write(done) {
    done(null);
  },
};
