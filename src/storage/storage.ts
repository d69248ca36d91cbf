import type { Entry } from '../engine/entry.js';

/** One operation of a write batch, in the shape the RocksDB binding takes. */
export interface BatchOp {
  type: 'put' | 'del';
  key: string;
  value?: string;
}

/** What opening finds on disk: every table's entries in key order, and the last commit's seq. */
export interface Loaded {
  seq: number;
  tables: Map<string, { entries: Map<string, Entry>; keys: string[] }>;
}

/**
 * Where commits go. One write is one atomic batch; `done` is called once it is as durable as
 * the database's durability mode promises.
 */
export interface Storage {
  load(): Promise<Loaded>;
  write(ops: BatchOp[], done: (error: Error | null) => void): void;
  close(): Promise<void>;
}

/** `durability: 'memory'`: nothing is persisted; a commit completes at once. */
export class MemoryStorage implements Storage {
  async load(): Promise<Loaded> {
    return { seq: 0, tables: new Map() };
  }

  write(_ops: BatchOp[], done: (error: Error | null) => void): void {
    done(null);
  }

  async close(): Promise<void> {}
}
