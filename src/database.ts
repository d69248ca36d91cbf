import type { Observable } from 'rxjs';
import { ErrorCode, RxkvError, fail } from './errors.js';
import type { Change } from './engine/change.js';
import { MultiWriteIntent } from './engine/intent.js';
import { checkChangeFilter, describe } from './engine/arguments.js';
import type { ChangeFilter } from './engine/dispatch.js';
import { initialChanges } from './engine/initial.js';
import type { IndexDefinition } from './engine/secondary-index.js';
import { DatabaseCore } from './database-core.js';
import { RocksStorage } from './storage/rocksdb.js';
import { MemoryStorage, type Loaded, type Storage } from './storage/storage.js';
import { missingCommits } from './storage/commit-log.js';
import { Table } from './table.js';
import { Transaction } from './transaction.js';
import type { Json } from './json/types.js';

/**
 * `'sync'` (default): the WAL is synced to disk before a write is acknowledged; survives power loss.
 * `'wal'`: written to the WAL without sync; survives a process crash, not a power loss.
 * `'memory'`: nothing is persisted.
 */
export type Durability = 'sync' | 'wal' | 'memory';

export interface OpenOptions {
  durability?: Durability;
  /**
   * Open even when commits are missing (`DATABASE_CORRUPTED`): keep what survived, start the
   * commit record over from there, and list what was lost in `db.salvaged`.
   */
  salvage?: boolean;
  /** The largest record, in bytes of JSON (default 16 MiB). */
  maxValueBytes?: number;
}

export interface TableOptions<T = Json> {
  /** Secondary indexes by name: a JSON path (`'profile.city'`) or a function of the record. */
  indexes?: Record<string, IndexDefinition<T>>;
}

const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;

/**
 * Opens (or creates) the database in directory `path`, loading every table into memory.
 *
 * @example
 * const db = await open('./data');
 * await db.table('accounts').merge(uuid(), { username: 'roaringtt' });
 */
export async function open(path: string, options: OpenOptions = {}): Promise<Database> {
  if (typeof path !== 'string' || path === '') fail(ErrorCode.INVALID_ARGUMENT, `open() takes a directory path, not ${describe(path)}.`);
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'open() options must be an object.');
  const durability = options.durability ?? 'sync';
  if (durability !== 'sync' && durability !== 'wal' && durability !== 'memory') {
    fail(ErrorCode.INVALID_ARGUMENT, `durability must be 'sync', 'wal' or 'memory', not ${describe(durability)}.`);
  }
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (!(Number.isSafeInteger(maxValueBytes) && maxValueBytes > 0)) {
    fail(ErrorCode.INVALID_ARGUMENT, `maxValueBytes must be a positive integer, not ${describe(maxValueBytes)}.`);
  }
  if (options.salvage !== undefined && typeof options.salvage !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'open({ salvage }) takes a boolean.');
  const storage = await openStorage(path, durability);
  let loaded: Loaded;
  let missing: [number, number][];
  try {
    ({ loaded, missing } = await loadChecked(storage, path, options.salvage === true));
  } catch (error) {
    await storage.close().catch(() => undefined);
    throw error instanceof RxkvError ? error : new RxkvError(ErrorCode.OPEN_FAILED, `Could not load ${path}: ${(error as Error).message}`, { cause: error });
  }
  return new Database(new DatabaseCore(path, storage, loaded, maxValueBytes), durability, missing);
}

/**
 * Loads what storage holds and checks the commit record: refuses with DATABASE_CORRUPTED when
 * commits are missing, unless salvaging; then starts the record over from what is there.
 */
async function loadChecked(storage: Storage, path: string, salvage: boolean): Promise<{ loaded: Loaded; missing: [number, number][] }> {
  const loaded = await storage.load();
  const missing = missingCommits(loaded.commits, loaded.seq);
  if (missing.length > 0 && !salvage) {
    const ranges = missing.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(', ');
    throw new RxkvError(
      ErrorCode.DATABASE_CORRUPTED,
      `The database at ${path} is missing commits it once acknowledged (seq ${ranges}): its WAL was damaged. Restore a backup, or open it with { salvage: true } to keep what survived.`,
    );
  }
  await storage.settle(loaded.seq);
  return { loaded, missing };
}

function openStorage(path: string, durability: Durability): Promise<Storage> {
  return durability === 'memory' ? Promise.resolve(new MemoryStorage()) : RocksStorage.open(path, durability === 'sync');
}

/** A database: named tables of JSON records in one directory, one commit pipeline. */
export class Database {
  private readonly tables = new Map<string, Table<Json>>();
  private closing: Promise<void> | null = null;

  /** @internal */
  constructor(
    private readonly core: DatabaseCore,
    /** The durability mode it was opened with. */
    readonly durability: Durability,
    /** The seq ranges of commits found missing and given up when opened with `{ salvage: true }`. */
    readonly salvaged: readonly [number, number][] = [],
  ) {}

  /** The directory it was opened from. */
  get path(): string {
    return this.core.path;
  }

  /** The seq of the last commit: database-wide, strictly increasing. */
  get seq(): number {
    return this.core.pipeline.seq;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.core.closed;
  }

  /**
   * A table by name, created on first use (a table is persisted with its first record).
   * `indexes` declares secondary indexes, each a JSON path or a function of the record returning
   * one index value or several; they are built from the records at once and kept up to date.
   *
   * @example
   * const people = db.table('people', { indexes: { byCity: 'profile.city', byTag: (p) => p.tags } });
   */
  table<T = Json>(name: string, options: TableOptions<T> = {}): Table<T> {
    if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'table() options must be an object such as { indexes }.');
    const { indexes } = options;
    if (indexes !== undefined && (typeof indexes !== 'object' || indexes === null)) {
      fail(ErrorCode.INVALID_ARGUMENT, "table({ indexes }) takes { name: 'json.path' | (value) => indexValue }.");
    }
    for (const [indexName, definition] of Object.entries(indexes ?? {})) {
      if (typeof definition !== 'string' && typeof definition !== 'function') {
        fail(ErrorCode.INVALID_ARGUMENT, `Index ${indexName}: give a JSON path such as 'profile.city' or a function of the record.`);
      }
    }
    const state = this.core.state(name);
    for (const [indexName, definition] of Object.entries(indexes ?? {})) state.defineIndex(indexName, definition as IndexDefinition);
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new Table(this.core, state);
      this.tables.set(name, table);
    }
    return table as unknown as Table<T>;
  }

  /** @internal The table of that name if it exists (holds records or was used): a reader's look never creates one. */
  existingTable(name: string): Table<Json> | undefined {
    return this.core.states.has(name) ? this.table(name) : undefined;
  }

  /** The names of the tables that hold records or were used since opening, in order. */
  tableNames(): string[] {
    return [...this.core.states.keys()].sort();
  }

  /**
   * Runs `fn` and commits all of its writes atomically, over any tables. `fn` must be
   * synchronous; it runs when the transaction's turn in the pipeline comes, so its reads see
   * every write called before the transaction. Resolves with what `fn` returned, once durable;
   * rejects with what it threw, and then nothing of it is written.
   *
   * @example
   * await db.transaction((tx) => {
   *   const from = tx.table('accounts').get('a')!;
   *   tx.table('accounts').merge('a', { balance: from.balance - 10 });
   *   tx.table('accounts').increment('b', 'balance', 10);
   * });
   */
  transaction<R>(fn: (tx: Transaction) => R): Promise<R> {
    this.core.checkOpen();
    if (typeof fn !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'transaction() takes a function: (tx) => { tx.table(...).merge(...) }.');
    const core = this.core;
    return new Promise<R>((resolve, reject) => {
      core.pipeline.submit(
        new MultiWriteIntent(resolve as (result: never) => void, reject, (writer) => {
          const result = fn(new Transaction(core, writer));
          if (typeof (result as { then?: unknown } | undefined)?.then === 'function') {
            fail(ErrorCode.INVALID_ARGUMENT, 'A transaction function must be synchronous: it returned a promise, so nothing was written.');
          }
          return result;
        }),
      );
    });
  }

  /**
   * Every committed change of every table, in commit order, or those matching a filter (see
   * `Table.changes`; `{ key }` and `{ prefix }` apply to the keys of every table).
   */
  changes(filter: ChangeFilter = {}): Observable<Change> {
    const core = this.core;
    return core.pipeline.dispatcher.observe(checkChangeFilter(filter), {
      seq: () => core.pipeline.seq,
      changes: (checked) => initialChanges([...core.states.values()].sort((a, b) => (a.name < b.name ? -1 : 1)), checked),
    });
  }

  /**
   * Background failures: a failed commit (`COMMIT_FAILED`: the database stops accepting writes
   * until `recover()`), an index function that threw (`INDEX_FAILED`).
   */
  get errors$(): Observable<RxkvError> {
    return this.core.pipeline.errors$.asObservable();
  }

  /** Whether a failed commit stopped the database: writes reject until `recover()`. */
  get stopped(): boolean {
    return this.core.pipeline.stopped;
  }

  /**
   * After a failed commit: reopens the database from disk and accepts writes again. Memory is
   * rebuilt from what is durable; whatever differs from what was in memory (a rejected write may
   * have reached the disk) is published as changes. Does nothing when the database is not stopped.
   *
   * @example
   * db.errors$.pipe(filter((e) => e.code === 'COMMIT_FAILED')).subscribe(() => db.recover().catch(report));
   */
  recover(): Promise<void> {
    this.core.checkOpen();
    return this.core.recover(async () => {
      const storage = await openStorage(this.path, this.durability);
      try {
        return { storage, loaded: (await loadChecked(storage, this.path, false)).loaded };
      } catch (error) {
        await storage.close().catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * Waits for every write already called to settle, then closes. Writes called afterwards
   * throw `DATABASE_CLOSED`. Streams complete.
   */
  close(): Promise<void> {
    if (this.closing === null) {
      this.core.closed = true;
      this.closing = (async () => {
        await this.core.pipeline.drain();
        // After a failed commit storage that does not take writes again is left open rather than
        // hang (see Storage.writable): the directory stays locked until the process exits.
        await this.core.closeStorage().catch((error) => {
          if (!this.core.pipeline.stopped) throw error;
        });
        for (const state of this.core.states.values()) state.complete();
        this.core.pipeline.dispatcher.complete();
        this.core.pipeline.errors$.complete();
      })();
    }
    return this.closing;
  }
}
