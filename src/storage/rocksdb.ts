/**
 * The only module that calls the RocksDB binding (`rocksdb`, Level's N-API binding), so that the
 * engine can be swapped in one place. Batch writes run on libuv's thread pool: the fsync of one
 * commit never blocks the event loop, and the next batch is built while it syncs.
 */
import { createRequire } from 'node:module';
import { mkdir } from 'node:fs/promises';
import type { Entry } from '../model/record.js';
import { ErrorCode, RxkvError } from '../errors.js';
import { COPYING_KEY, DELETE_PREFIX, DELETES_END, DELETES_FLOOR_KEY, HISTORY_KEY, RECORD_PREFIX, RECORDS_END, SEQ_KEY, decodeEntry, deleteKey, recordKey } from './codec.js';
import { FLUSHED_KEY, MARKER_PREFIX, MARKERS_END, markerKey } from './commit-log.js';
import { readWatermark, Watermark } from './watermark.js';
import type { Loaded, Storage, StorageBatch } from './storage.js';

interface LevelDown {
  context: unknown;
  open(options: object, callback: (error: Error | null) => void): void;
  close(callback: (error: Error | null) => void): void;
}

interface Binding {
  batch_init(context: unknown): unknown;
  batch_put(batch: unknown, key: string, value: string): void;
  batch_del(batch: unknown, key: string): void;
  batch_write(batch: unknown, options: { sync: boolean }, callback: (error: Error | null) => void): void;
  iterator_init(context: unknown, options: object): unknown;
  iterator_next(iterator: unknown, callback: (error: Error | null, array: string[], finished: boolean) => void): void;
  iterator_end(iterator: unknown, callback: (error: Error | null) => void): void;
  db_get(context: unknown, key: string, options: object, callback: (error: Error | null, value?: string) => void): void;
  db_clear(context: unknown, options: object, callback: (error: Error | null) => void): void;
  db_compact_range(context: unknown, start: string, end: string, callback: (error: Error | null) => void): void;
}

/** Written, synced, to learn whether storage takes writes again after a failure. */
const PROBE_KEY = 'mprobe';

/** Written, synced, when a 'wal' database closes: any synced write syncs the whole WAL. */
const CLOSED_KEY = 'mclosed';

/** Every this many batches, a checkpoint: the memtable is flushed to table files and older commit markers dropped. */
const CHECKPOINT_EVERY = 8192;

const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb') as (location: string) => LevelDown;
const binding = require('rocksdb/binding.js') as Binding;

export class RocksStorage implements Storage {
  private readonly writeOptions: { sync: boolean };
  /** The tail watermark ('sync' durability only: with 'wal' a lost tail is what was promised). */
  private readonly watermark: Watermark | null;
  private commitsSinceCheckpoint = 0;
  private checkpointing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: LevelDown,
    private readonly path: string,
    sync: boolean,
  ) {
    this.writeOptions = { sync };
    this.watermark = sync ? new Watermark(path) : null;
  }

  static async open(path: string, sync: boolean): Promise<RocksStorage> {
    await mkdir(path, { recursive: true });
    const db = rocksdb(path);
    await new Promise<void>((resolve, reject) => {
      db.open({ createIfMissing: true, infoLogLevel: 'error' }, (error) => (error ? reject(openError(path, error)) : resolve()));
    });
    return new RocksStorage(db, path, sync);
  }

  /**
   * A native WriteBatch filled one call per record: about a third of the JavaScript-thread cost
   * of handing the binding an array of operation objects (measured: 0.4 vs 1.2 µs a record).
   */
  batch(): StorageBatch {
    return new RocksBatch(binding.batch_init(this.db.context), this.writeOptions);
  }

  published(seq: number): void {
    this.watermark?.note(seq);
    if (++this.commitsSinceCheckpoint >= CHECKPOINT_EVERY) {
      this.commitsSinceCheckpoint = 0;
      this.checkpointing = this.checkpointing.then(() => this.flushAndCheckpoint(seq)).catch(() => undefined);
    }
  }

  /**
   * Everything up to `seq` is in table files: opening flushes what it recovers from the WAL (and
   * deletes that WAL), so this holds right after `load`. Records it and drops the older markers.
   */
  async checkpoint(seq: number): Promise<void> {
    await this.recordFlushed(seq);
    await this.watermark?.reset(seq);
  }

  /** Records that commits up to `seq` are in table files, and drops their markers. */
  private async recordFlushed(seq: number): Promise<void> {
    const context = this.db.context;
    const batch = binding.batch_init(context);
    binding.batch_put(batch, FLUSHED_KEY, String(seq));
    await call((done) => binding.batch_write(batch, { sync: true }, done));
    await call((done) => binding.db_clear(context, { gte: MARKER_PREFIX, lte: markerKey(seq), limit: -1 }, done));
  }

  async startHistory(id: string): Promise<void> {
    const batch = binding.batch_init(this.db.context);
    binding.batch_put(batch, HISTORY_KEY, id);
    await call((done) => binding.batch_write(batch, { sync: true }, done));
  }

  async startCopy(): Promise<void> {
    const batch = binding.batch_init(this.db.context);
    binding.batch_put(batch, COPYING_KEY, '');
    await call((done) => binding.batch_write(batch, { sync: true }, done));
  }

  /** One synced batch: it syncs the WAL, and with it every unsynced batch of the copy before it. */
  async finishCopy(seq: number, history: string): Promise<void> {
    const batch = binding.batch_init(this.db.context);
    binding.batch_put(batch, SEQ_KEY, String(seq));
    binding.batch_put(batch, HISTORY_KEY, history);
    binding.batch_put(batch, FLUSHED_KEY, String(seq));
    binding.batch_put(batch, DELETES_FLOOR_KEY, String(seq));
    binding.batch_del(batch, COPYING_KEY);
    await call((done) => binding.batch_write(batch, { sync: true }, done));
  }

  async writable(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const batch = binding.batch_init(this.db.context);
      binding.batch_put(batch, PROBE_KEY, '');
      try {
        await call((done) => binding.batch_write(batch, { sync: true }, done));
        return;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /**
   * While running: a compaction of the marker range flushes the memtable first. The watermark is
   * left alone: it is already past `seq`.
   */
  private async flushAndCheckpoint(seq: number): Promise<void> {
    await call((done) => binding.db_compact_range(this.db.context, MARKER_PREFIX, MARKERS_END, done));
    await this.recordFlushed(seq);
  }

  async load(): Promise<Loaded> {
    const tables: Loaded['tables'] = new Map();
    let table: { entries: Map<string, Entry>; keys: string[] } | undefined;
    let prefix = '';
    let unsorted = false;
    await this.scan(RECORD_PREFIX, RECORDS_END, (key, value) => {
      if (table === undefined || !key.startsWith(prefix)) {
        const end = key.indexOf('\u0000');
        const name = key.slice(1, end);
        prefix = key.slice(0, end + 1);
        table = { entries: new Map(), keys: [] };
        tables.set(name, table);
      }
      const own = key.slice(prefix.length);
      const keys = table.keys;
      // RocksDB orders keys by UTF-8 bytes, tables by JavaScript string order; they differ only
      // around astral characters, rarely enough to check and sort afterwards.
      if (keys.length > 0 && !(keys[keys.length - 1]! < own)) unsorted = true;
      keys.push(own);
      table.entries.set(own, decodeEntry(value));
    });
    if (unsorted) for (const { keys } of tables.values()) keys.sort();
    const deletes: Loaded['deletes'] = new Map();
    await this.scan(DELETE_PREFIX, DELETES_END, (key, value) => {
      const end = key.indexOf('\u0000');
      const name = key.slice(1, end);
      let table = deletes.get(name);
      if (table === undefined) deletes.set(name, (table = new Map()));
      const comma = value.indexOf(',');
      table.set(key.slice(end + 1), { seq: Number(value.slice(0, comma)), ts: Number(value.slice(comma + 1)) });
    });
    const floorText = await this.get(DELETES_FLOOR_KEY);
    const incomplete = (await this.get(COPYING_KEY)) !== undefined;
    const markers: [number, number][] = [];
    await this.scan(MARKER_PREFIX, MARKERS_END, (key, value) => markers.push([Number(value), Number(key.slice(1))]));
    const seq = Number((await this.get(SEQ_KEY)) ?? 0);
    const history = await this.get(HISTORY_KEY);
    const flushedText = await this.get(FLUSHED_KEY);
    const flushed = flushedText === undefined ? (seq === 0 ? 0 : null) : Number(flushedText);
    const watermark = this.watermark === null ? 0 : await readWatermark(this.path);
    return { seq, history, tables, commits: { flushed, markers, watermark }, deletes, deletesFloor: floorText === undefined ? undefined : Number(floorText), incomplete };
  }

  async close(): Promise<void> {
    await this.checkpointing;
    await this.watermark?.flush().catch(() => undefined); // see Watermark.note: not fatal
    if (!this.writeOptions.sync) {
      // 'wal' never syncs while running; a clean close does, so that what was written survives
      // a power cut after it.
      const batch = binding.batch_init(this.db.context);
      binding.batch_put(batch, CLOSED_KEY, '');
      await call((done) => binding.batch_write(batch, { sync: true }, done)).catch(() => undefined);
    }
    await call((done) => this.db.close(done));
  }

  private get(key: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      binding.db_get(this.db.context, key, { asBuffer: false, fillCache: false }, (error, value) => {
        if (error && /NotFound/i.test(error.message)) resolve(undefined);
        else if (error) reject(error);
        else resolve(value);
      });
    });
  }

  /** Calls `visit` for every pair in [gte, lt), in key order, a thousand pairs per trip to the thread pool. */
  private scan(gte: string, lt: string, visit: (key: string, value: string) => void): Promise<void> {
    const iterator = binding.iterator_init(this.db.context, {
      gte,
      lt,
      keys: true,
      values: true,
      keyAsBuffer: false,
      valueAsBuffer: false,
      fillCache: false,
      highWaterMark: 1 << 20,
    });
    return new Promise((resolve, reject) => {
      const end = (error: Error | null) =>
        binding.iterator_end(iterator, (endError) => (error || endError ? reject(error ?? endError) : resolve()));
      const next = () =>
        binding.iterator_next(iterator, (error, array, finished) => {
          if (error) return end(error);
          try {
            // The binding returns pairs last-first: [..., value2, key2, value1, key1].
            for (let i = array.length - 1; i > 0; i -= 2) visit(array[i]!, array[i - 1]!);
          } catch (visitError) {
            return end(visitError as Error);
          }
          if (finished) end(null);
          else next();
        });
      next();
    });
  }
}

class RocksBatch implements StorageBatch {
  /** The key prefix of the table written last: a batch mostly writes one table. */
  private table = '';
  private prefix = '';

  constructor(
    private readonly native: unknown,
    private readonly options: { sync: boolean },
  ) {}

  put(table: string, key: string, encoded: string): void {
    binding.batch_put(this.native, this.prefixOf(table) + key, encoded);
  }

  del(table: string, key: string): void {
    binding.batch_del(this.native, this.prefixOf(table) + key);
  }

  private prefixOf(table: string): string {
    if (table !== this.table) {
      this.table = table;
      this.prefix = recordKey(table, '');
    }
    return this.prefix;
  }

  mark(first: number, last: number): void {
    binding.batch_put(this.native, markerKey(last), String(first));
    binding.batch_put(this.native, SEQ_KEY, String(last));
  }

  recordDelete(table: string, key: string, seq: number, ts: number): void {
    binding.batch_put(this.native, deleteKey(table, key), seq + ',' + ts);
  }

  forgetDeletes(deletes: readonly (readonly [string, string])[], floor: number): void {
    for (const [table, key] of deletes) binding.batch_del(this.native, deleteKey(table, key));
    binding.batch_put(this.native, DELETES_FLOOR_KEY, String(floor));
  }

  write(done: (error: Error | null) => void): void {
    binding.batch_write(this.native, this.options, done);
  }
}

function call(run: (done: (error: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((error) => (error ? reject(error) : resolve())));
}

function openError(path: string, error: Error): RxkvError {
  if (/lock/i.test(error.message)) {
    return new RxkvError(
      ErrorCode.DATABASE_LOCKED,
      `The database at ${path} is already open (in this or another process): close it first.`,
      { cause: error },
    );
  }
  return new RxkvError(ErrorCode.OPEN_FAILED, `Could not open the database at ${path}: ${error.message}`, { cause: error });
}
