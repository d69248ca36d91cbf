import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Observable } from 'rxjs';
import { ErrorCode, fail, type RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import type { BackupProgress, BackupResult } from '../engine/backup.js';
import type { DeleteRetention } from '../engine/delete-log.js';
import { openEngine, verifyDatabase, type Durability, type Engine, type Verified } from '../engine/lifecycle.js';
import type { IndexDefinition } from '../engine/secondary-index.js';
import type { Change } from '../model/change.js';
import { checkChangeFilter, type ChangeFilter } from '../model/filter.js';
import { describeValue } from '../model/keys.js';
import { ClusterNode } from '../cluster/node.js';
import { clusterSettings, type ClusterOptions } from '../cluster/options.js';
import { Table } from './table.js';
import { Transaction } from './transaction.js';

export type { BackupProgress, BackupResult, Durability, Verified };

export interface BackupOptions {
  /** Called as the copy goes: records copied of the total, and their bytes. */
  progress?: (progress: BackupProgress) => void;
}

export interface OpenOptions {
  durability?: Durability;
  /**
   * Open even when commits are missing (`DATABASE_CORRUPTED`): keep what survived, start the
   * commit record over from there, and list what was lost in `db.salvaged`.
   */
  salvage?: boolean;
  /** The largest record, in bytes of JSON (default 16 MiB). */
  maxValueBytes?: number;
  /**
   * How long, and how much of, the recent deletes are kept beside the records (default 7 days,
   * about 8 MiB of keys), so that a replica that comes back after a restart or a long absence is
   * sent only what changed since its position. One older than what is kept takes a full snapshot.
   */
  keepDeletes?: { maxAge?: number; maxBytes?: number };
  /**
   * Makes the database a node of a cluster: its history is a NATS JetStream stream that every node
   * applies in order. Writes on any node are published there and resolve once this node has applied
   * them; reads are of this node's state (`sync()` first for one that follows every acknowledged write).
   */
  cluster?: ClusterOptions;
}

export interface TableOptions<T = Json> {
  /** Secondary indexes by name: a JSON path (`'profile.city'`) or a function of the record. */
  indexes?: Record<string, IndexDefinition<T>>;
}

const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;
const DEFAULT_DELETE_RETENTION: DeleteRetention = { maxAge: 7 * 24 * 3600 * 1000, maxBytes: 8 * 1024 * 1024 };

function checkRetention(keep: OpenOptions['keepDeletes']): DeleteRetention {
  if (keep === undefined) return DEFAULT_DELETE_RETENTION;
  if (typeof keep !== 'object' || keep === null) fail(ErrorCode.INVALID_ARGUMENT, 'open({ keepDeletes }) takes { maxAge, maxBytes }.');
  const retention = { ...DEFAULT_DELETE_RETENTION };
  for (const name of ['maxAge', 'maxBytes'] as const) {
    const value = keep[name];
    if (value === undefined) continue;
    if (!(Number.isSafeInteger(value) && value >= 0)) fail(ErrorCode.INVALID_ARGUMENT, `open({ keepDeletes: { ${name} } }) must be a non-negative integer, not ${describeValue(value)}.`);
    retention[name] = value;
  }
  return retention;
}

/**
 * Opens (or creates) the database in directory `path`, loading every table into memory.
 *
 * @example
 * const db = await open('./data');
 * await db.table('accounts').merge(uuid(), { username: 'roaringtt' });
 */
export async function open(path: string, options: OpenOptions = {}): Promise<Database> {
  if (typeof path !== 'string' || path === '') fail(ErrorCode.INVALID_ARGUMENT, `open() takes a directory path, not ${describeValue(path)}.`);
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'open() options must be an object.');
  const durability = options.durability ?? 'sync';
  if (durability !== 'sync' && durability !== 'wal' && durability !== 'memory') {
    fail(ErrorCode.INVALID_ARGUMENT, `durability must be 'sync', 'wal' or 'memory', not ${describeValue(durability)}.`);
  }
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (!(Number.isSafeInteger(maxValueBytes) && maxValueBytes > 0)) {
    fail(ErrorCode.INVALID_ARGUMENT, `maxValueBytes must be a positive integer, not ${describeValue(maxValueBytes)}.`);
  }
  if (options.salvage !== undefined && typeof options.salvage !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'open({ salvage }) takes a boolean.');
  const cluster = options.cluster === undefined ? undefined : clusterSettings(options.cluster);
  const retention = checkRetention(options.keepDeletes);
  const openIt = (): Promise<Engine> => openEngine(path, durability, maxValueBytes, options.salvage === true, retention);
  return new Database(cluster === undefined ? await openIt() : await ClusterNode.open(path, openIt, cluster));
}

/**
 * Checks the database in directory `path` without opening it for writes: every record decodes, and
 * no commit it once acknowledged is missing (`missing` lists the seq ranges when some are). Throws
 * `DATABASE_LOCKED` when it is open elsewhere, `DATABASE_CORRUPTED` when a record does not decode.
 */
export function verify(path: string): Promise<Verified> {
  if (typeof path !== 'string' || path === '') fail(ErrorCode.INVALID_ARGUMENT, `verify() takes a directory path, not ${describeValue(path)}.`);
  if (!existsSync(join(path, 'CURRENT'))) fail(ErrorCode.INVALID_ARGUMENT, `There is no database at ${path}.`);
  return verifyDatabase(path);
}

/** A database: named tables of JSON records in one directory, one commit pipeline. */
export class Database {
  private readonly tables = new Map<string, Table<Json>>();

  /** @internal */
  constructor(private readonly engine: Engine) {}

  /** The directory it was opened from. */
  get path(): string {
    return this.engine.path;
  }

  /** The durability mode it was opened with. */
  get durability(): Durability {
    return this.engine.durability;
  }

  /** The seq ranges of commits found missing and given up when opened with `{ salvage: true }`. */
  get salvaged(): readonly [number, number][] {
    return this.engine.salvaged;
  }

  /**
   * The id of the history of commits this database continues: random at creation, kept across
   * reopening, and replaced when the history cannot be continued (`{ salvage: true }` gave commits
   * up, `recover()` found memory and disk apart, a restored backup). A position in the database
   * is a (history, seq) pair: the same seq in another history is another state.
   */
  get history(): string {
    return this.engine.history;
  }

  /** The stream of the cluster it is a node of (`open(path, { cluster })`), or undefined. */
  get cluster(): string | undefined {
    return this.engine.cluster;
  }

  /**
   * @internal What opening found of the commit record: the seq up to which commits were in table
   * files (`flushed`), the batches marked since, and the watermark (for `rxkv stats`).
   */
  get commitRecord(): { readonly flushed: number | null; readonly markers: number; readonly watermark: number } {
    const { flushed, markers, watermark } = this.engine.commitRecord;
    return { flushed, markers: markers.length, watermark };
  }

  /** The seq of the last commit: database-wide, strictly increasing. */
  get seq(): number {
    return this.engine.seq;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.engine.closed;
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
    const state = this.engine.table(name);
    for (const [indexName, definition] of Object.entries(indexes ?? {})) state.defineIndex(indexName, definition as IndexDefinition);
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new Table(this.engine, state);
      this.tables.set(name, table);
    }
    return table as unknown as Table<T>;
  }

  /** @internal A table of rxkv's own (`#name`): never listed, never in `changes()`. */
  internalTable<T = Json>(name: `#${string}`): Table<T> {
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new Table(this.engine, this.engine.internalTable(name));
      this.tables.set(name, table);
    }
    return table as unknown as Table<T>;
  }

  /**
   * @internal `transaction(fn)`, with `fallback` run in its place, at the same point of the commit
   * order, when `fn` fails: its writes commit instead, and it resolves with what `fallback` returned.
   */
  transactOr<R, F>(fn: (tx: Transaction) => R, fallback: (tx: Transaction, error: unknown) => F): Promise<R | F> {
    this.engine.checkOpen();
    const engine = this.engine;
    return engine.transact(
      (writer) => fn(new Transaction(engine, writer)),
      (writer, error) => fallback(new Transaction(engine, writer), error),
    );
  }

  /**
   * @internal For rxkv/server's resumes: the keys of `table` deleted after `since` (some may exist
   * again), or undefined when the deletes after `since` are no longer all kept.
   */
  deletedSince(table: string, since: number): string[] | undefined {
    return this.engine.deletedSince(table, since);
  }

  /** @internal The table of that name if it exists (holds records or was used): a reader's look never creates one. */
  existingTable(name: string): Table<Json> | undefined {
    return this.engine.hasTable(name) ? this.table(name) : undefined;
  }

  /** The names of the tables that hold records or were used since opening, in order. */
  tableNames(): string[] {
    return this.engine.tableNames().sort();
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
    this.engine.checkOpen();
    if (typeof fn !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'transaction() takes a function: (tx) => { tx.table(...).merge(...) }.');
    const engine = this.engine;
    return engine.transact((writer) => {
      const result = fn(new Transaction(engine, writer));
      if (typeof (result as { then?: unknown } | undefined)?.then === 'function') {
        fail(ErrorCode.INVALID_ARGUMENT, 'A transaction function must be synchronous: it returned a promise, so nothing was written.');
      }
      return result;
    });
  }

  /**
   * Every committed change of every table, in commit order, or those matching a filter (see
   * `Table.changes`; `{ key }` and `{ prefix }` apply to the keys of every table).
   */
  changes(filter: ChangeFilter = {}): Observable<Change> {
    return this.engine.changes(checkChangeFilter(filter));
  }

  /**
   * Background failures: a failed commit (`COMMIT_FAILED`: the database stops accepting writes
   * until `recover()`), an index function that threw (`INDEX_FAILED`).
   */
  get errors$(): Observable<RxkvError> {
    return this.engine.errors$;
  }

  /**
   * Resolves once this database has applied every write acknowledged before the call, on any node
   * of its cluster: read after it for a linearizable read. Resolves at once when it is not a node.
   */
  sync(): Promise<void> {
    return this.engine.sync();
  }

  /** Whether a failed commit stopped the database: writes reject until `recover()`. */
  get stopped(): boolean {
    return this.engine.stopped;
  }

  /**
   * Writes a consistent copy of every table, as of the last commit, into `dest` (a new or empty
   * directory), while writes go on; `open(dest)` opens it, with a history of its own. Resolves
   * with what it holds: `{ seq, tables, records, bytes }`. An interrupted backup (an error, a kill)
   * never opens as complete; `close()` waits for the backups under way.
   *
   * @example
   * const { seq, records } = await db.backup('./backups/2026-12-02', { progress: ({ records, total }) => bar.update(records, total) });
   */
  backup(dest: string, options: BackupOptions = {}): Promise<BackupResult> {
    this.engine.checkOpen();
    if (typeof dest !== 'string' || dest === '') fail(ErrorCode.INVALID_ARGUMENT, `backup() takes a directory path, not ${describeValue(dest)}.`);
    if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'backup() options must be an object such as { progress }.');
    if (options.progress !== undefined && typeof options.progress !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'backup({ progress }) takes a function.');
    if (resolve(dest) === resolve(this.engine.path)) fail(ErrorCode.INVALID_ARGUMENT, 'backup(): the copy cannot go into the database itself.');
    return this.engine.backup(dest, options.progress);
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
    this.engine.checkOpen();
    return this.engine.recover();
  }

  /**
   * Waits for every write already called to settle, then closes. Writes called afterwards
   * throw `DATABASE_CLOSED`. Streams complete.
   */
  close(): Promise<void> {
    return this.engine.close();
  }
}
