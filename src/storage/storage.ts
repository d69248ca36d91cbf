import type { Entry } from '../engine/entry.js';

/** What opening finds on disk: every table's entries in key order, and the last commit's seq. */
export interface Loaded {
  seq: number;
  tables: Map<string, { entries: Map<string, Entry>; keys: string[] }>;
}

/**
 * One commit's writes, built up in place and written atomically; `done` is called once the
 * batch is as durable as the database's durability mode promises.
 */
export interface StorageBatch {
  put(key: string, value: string): void;
  del(key: string): void;
  write(done: (error: Error | null) => void): void;
}

/** Where commits go. */
export interface Storage {
  load(): Promise<Loaded>;
  batch(): StorageBatch;
  close(): Promise<void>;
}

/** `durability: 'memory'`: nothing is persisted; a commit completes at once. */
export class MemoryStorage implements Storage {
  async load(): Promise<Loaded> {
    return { seq: 0, tables: new Map() };
  }

  batch(): StorageBatch {
    return NOTHING_TO_WRITE;
  }

  async close(): Promise<void> {}
}

const NOTHING_TO_WRITE: StorageBatch = {
  put() {},
  del() {},
  write(done) {
    done(null);
  },
};
