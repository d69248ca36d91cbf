/**
 * A database's life in one place: open (storage, load, check the commit record, salvage), the
 * table states and the pipeline it runs, recover after a failed commit, close.
 */
import type { Observable } from 'rxjs';
import { ErrorCode, RxkvError, fail } from '../errors.js';
import type { Change } from '../model/change.js';
import type { ChangeFilter } from '../model/filter.js';
import { checkTableName } from '../model/keys.js';
import { missingCommits, type CommitRecord } from '../storage/commit-log.js';
import { RocksStorage } from '../storage/rocksdb.js';
import { MemoryStorage, type Loaded, type Storage } from '../storage/storage.js';
import { initialChanges } from './initial.js';
import { MultiWriteIntent, WriteIntent, captureResolvers, resolvers, type Intent, type TableWriter } from './intent.js';
import { writeBackup, type BackupProgress, type BackupResult } from './backup.js';
import { writeCopy, type CopiedRecord, type CopyResult } from './copy.js';
import type { DeleteRetention } from './delete-log.js';
import { Pipeline } from './pipeline.js';
import { TableState, type TableSource } from './table-state.js';
import type { WriteSpec } from './writes.js';

/**
 * `'sync'` (default): the WAL is synced to disk before a write is acknowledged; survives power loss.
 * `'wal'`: written to the WAL without sync; survives a process crash, not a power loss.
 * `'memory'`: nothing is persisted.
 */
export type Durability = 'sync' | 'wal' | 'memory';

/**
 * Where an engine's writes go when it is a node of a cluster: to the cluster's stream, which hands
 * them back, in its order, to every node's pipeline (`Engine.apply`).
 */
export interface WriteRouter {
  /** The cluster's stream. */
  readonly stream: string;
  write(table: TableState, key: string, spec: WriteSpec, ifVersion: number | undefined): Promise<unknown>;
  transact<R, F = never>(body: (writer: TableWriter) => R, fallback?: (writer: TableWriter, error: unknown) => F): Promise<R | F>;
  /** Resolves once the node has applied everything the cluster held when it was called. */
  sync(): Promise<void>;
  /** Settles what it holds and lets go of the cluster; the engine closes after it. */
  close(): Promise<void>;
}

/** How long recover() and close() wait for storage to take writes again after a failure. */
const WRITABLE_WAIT_MS = 5000;

/**
 * Opens storage and loads it. Refuses with DATABASE_CORRUPTED when commits are missing, unless
 * salvaging: then keeps what is there, and the returned engine lists what was given up.
 */
export async function openEngine(path: string, durability: Durability, maxValueBytes: number, salvage: boolean, retention: DeleteRetention): Promise<Engine> {
  const { storage, loaded, missing } = await load(path, durability, salvage);
  return new Engine(path, durability, maxValueBytes, storage, loaded, missing, retention);
}

function isInternal(name: string): boolean {
  return name.startsWith('#');
}

/**
 * Writes a new database at `dest` (a new or empty directory) holding `records` with their
 * metadata, at commit `seq` (at least the highest version), in a new history: a database loaded
 * from a dump. Interrupted, it refuses to open; failed, it is removed.
 */
export function createDatabase(dest: string, records: AsyncIterable<CopiedRecord>, seq: number, progress?: (records: number) => void): Promise<CopyResult> {
  return writeCopy(dest, records, 0, seq, newHistory(), progress === undefined ? undefined : ({ records: done }) => progress(done));
}

/** What `verifyDatabase` found. */
export interface Verified {
  readonly seq: number;
  readonly history: string | undefined;
  readonly tables: number;
  readonly records: number;
  /** Commits once acknowledged and missing, as seq ranges: none in a sound database. */
  readonly missing: readonly [number, number][];
}

/**
 * Reads a database's directory the way opening does (every record decoded, the commit record
 * checked) without starting it: nothing is checkpointed, no history is started.
 */
export async function verifyDatabase(path: string): Promise<Verified> {
  const storage = await RocksStorage.open(path, true);
  try {
    const loaded = await storage.load().catch((error: unknown) => {
      throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `A record of ${path} does not decode (${(error as Error).message}): restore a backup.`, { cause: error });
    });
    if (loaded.incomplete) throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `${path} holds a backup that was never finished: take the backup again.`);
    let records = 0;
    for (const { entries } of loaded.tables.values()) records += entries.size;
    return { seq: loaded.seq, history: loaded.history, tables: loaded.tables.size, records, missing: missingCommits(loaded.commits, loaded.seq) };
  } finally {
    await storage.close();
  }
}

/** A new history id: 128 random bits, in hex. */
function newHistory(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

async function load(path: string, durability: Durability, salvage: boolean): Promise<{ storage: Storage; loaded: Loaded; missing: [number, number][] }> {
  const storage = durability === 'memory' ? new MemoryStorage() : await RocksStorage.open(path, durability === 'sync');
  try {
    const loaded = await storage.load();
    if (loaded.incomplete) {
      throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `${path} holds a backup that was never finished (it was interrupted): take the backup again.`);
    }
    const missing = missingCommits(loaded.commits, loaded.seq);
    if (missing.length > 0 && !salvage) {
      const ranges = missing.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(', ');
      throw new RxkvError(
        ErrorCode.DATABASE_CORRUPTED,
        `The database at ${path} is missing commits it once acknowledged (seq ${ranges}): its WAL was damaged. Restore a backup, or open it with { salvage: true } to keep what survived.`,
      );
    }
    // A new store starts a history; one that gave up commits cannot continue the one its readers followed.
    if (loaded.history === undefined || missing.length > 0) {
      loaded.history = newHistory();
      await storage.startHistory(loaded.history);
    }
    await storage.checkpoint(loaded.seq);
    return { storage, loaded, missing };
  } catch (error) {
    await storage.close().catch(() => undefined);
    throw error instanceof RxkvError ? error : new RxkvError(ErrorCode.OPEN_FAILED, `Could not load ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** An open database's internals: its table states, its pipeline and its storage. */
export class Engine {
  private readonly states = new Map<string, TableState>();
  private readonly pipeline: Pipeline;
  /** The id of the history of commits this database continues (see `Database.history`). */
  history: string;
  /** The commit record as opening found it: what `rxkv stats` reports of durability. */
  readonly commitRecord: CommitRecord;
  private closing: Promise<void> | null = null;
  private storageClosed = false;
  private recovering: Promise<void> | null = null;
  /** Backups under way: `close()` waits for them. */
  private readonly backups = new Set<Promise<unknown>>();
  /** Set when it is a node of a cluster: its writes go there. */
  private router: WriteRouter | null = null;

  constructor(
    readonly path: string,
    readonly durability: Durability,
    readonly maxValueBytes: number,
    private storage: Storage,
    loaded: Loaded,
    /** The seq ranges of commits found missing and given up when opened with `{ salvage: true }`. */
    readonly salvaged: readonly [number, number][],
    retention: DeleteRetention,
  ) {
    this.pipeline = new Pipeline(storage, loaded, maxValueBytes, retention);
    this.history = loaded.history!;
    this.commitRecord = loaded.commits;
    for (const [name, { entries, keys }] of loaded.tables) {
      this.register(TableState.loaded(name, loaded.seq, entries, keys));
    }
  }

  get seq(): number {
    return this.pipeline.seq;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  get stopped(): boolean {
    return this.pipeline.stopped;
  }

  get errors$(): Observable<RxkvError> {
    return this.pipeline.errors$.asObservable();
  }

  /** The state of a table (a checked name, or one loaded or recovered from storage), created (empty) on first use. */
  private state(name: string): TableState {
    return this.states.get(name) ?? this.register(new TableState(name, this.pipeline.seq));
  }

  private register(state: TableState): TableState {
    state.onIndexError = (error) => this.pipeline.report(error);
    this.states.set(state.name, state);
    return state;
  }

  checkOpen(): void {
    if (this.closed) fail(ErrorCode.DATABASE_CLOSED, `The database at ${this.path} is closed: open it again to write.`);
  }

  /** Whether a table holds records or was used since opening (internal tables are not tables to readers). */
  hasTable(name: string): boolean {
    return this.states.has(name) && !isInternal(name);
  }

  tableNames(): string[] {
    return [...this.states.keys()].filter((name) => !isInternal(name));
  }

  /**
   * A table of the package's own (its name starts with `#`, which no table name can): kept and
   * committed like the others, never listed, never in `db.changes()`.
   */
  internalTable(name: `#${string}`): TableSource {
    return this.states.get(name) ?? this.register(new TableState(name, this.pipeline.seq));
  }

  /** Every table's state, the package's own included. */
  allStates(): TableState[] {
    return [...this.states.values()];
  }

  /** A table's state by a name already checked (one of the package's own included), created on first use: for a cluster's writes. */
  stateOf(name: string): TableState {
    return this.state(name);
  }

  /** Resolves once this database has applied every write acknowledged anywhere before the call (a cluster's node); at once otherwise. */
  async sync(): Promise<void> {
    await this.router?.sync();
  }

  /** Reports a background failure on `errors$`. */
  report(error: RxkvError): void {
    this.pipeline.report(error);
  }

  /** The stream of the cluster it is a node of, or undefined. */
  get cluster(): string | undefined {
    return this.router?.stream;
  }

  /** From now on, writes go to `router` (this engine became a node of a cluster). */
  route(router: WriteRouter): void {
    this.router = router;
  }

  /** Applies intents in order, as one commit group (a cluster's message): they are never split over two commits. */
  apply(intents: readonly Intent[]): void {
    for (let i = 0; i < intents.length; i++) {
      intents[i]!.endsGroup = i === intents.length - 1;
      this.pipeline.submit(intents[i]!);
    }
  }

  /** Records, durably, that this database continues history `id` (a cluster's: its stream's). */
  async adoptHistory(id: string): Promise<void> {
    if (this.history === id) return;
    await this.storage.startHistory(id);
    this.history = id;
  }

  /** A table's source for its handles, the table created (empty) on first use. */
  table(name: string): TableSource {
    return this.state(checkTableName(name));
  }

  /** Queues one write of one record; resolves with the record it leaves once durable. */
  write(table: TableSource, key: string, spec: WriteSpec, ifVersion: number | undefined): Promise<unknown> {
    if (this.router !== null) return this.router.write(table as TableState, key, spec, ifVersion);
    const promise = new Promise(captureResolvers as never);
    // Every source is a table state of this engine: `table()` hands out nothing else.
    this.pipeline.submit(new WriteIntent(resolvers.resolve, resolvers.reject, table as TableState, key, spec, ifVersion));
    return promise;
  }

  /**
   * Queues writes committed atomically, made by `body` when their turn comes; resolves with what it
   * returned. With `fallback`, a body that fails is replaced, at the same point, by `fallback`.
   */
  transact<R, F = never>(body: (writer: TableWriter) => R, fallback?: (writer: TableWriter, error: unknown) => F): Promise<R | F> {
    if (this.router !== null) return this.router.transact(body, fallback);
    return new Promise<R | F>((resolve, reject) => this.pipeline.submit(new MultiWriteIntent(resolve as (result: never) => void, reject, body, fallback)));
  }

  /**
   * The keys of `table` deleted after `since` (some may exist again), or undefined when the
   * deletes after `since` are no longer all kept.
   */
  deletedSince(table: string, since: number): string[] | undefined {
    return this.pipeline.deletes.deletedSince(table, since);
  }

  /** The changes of every table (see `Database.changes`), for a checked filter. */
  changes(filter: ChangeFilter): Observable<Change> {
    return this.pipeline.dispatcher.observe(filter, {
      seq: () => this.pipeline.seq,
      changes: (checked) => initialChanges([...this.states.values()].filter((state) => !state.internal).sort((a, b) => (a.name < b.name ? -1 : 1)), checked),
    });
  }

  /**
   * A consistent copy of every table as of the last commit, written into `dest` while writes go
   * on: the snapshots are taken now, at once, and cost nothing until commits replace them.
   */
  backup(dest: string, progress: ((progress: BackupProgress) => void) | undefined): Promise<BackupResult> {
    const tables = [...this.states.values()].map((state) => state.head);
    const written = writeBackup(tables, this.pipeline.seq, newHistory(), dest, progress, () => this.pipeline.busy);
    const tracked = written.catch(() => undefined);
    this.backups.add(tracked);
    void tracked.then(() => this.backups.delete(tracked));
    return written;
  }

  /**
   * After a failed commit: closes storage, opens it again (and checks it), and resumes the
   * pipeline on what is durable. One recovery at a time: a second call joins the first.
   */
  recover(): Promise<void> {
    return (this.recovering ??= this.recoverOnce().finally(() => {
      this.recovering = null;
    }));
  }

  private async recoverOnce(): Promise<void> {
    if (!this.pipeline.stopped) return;
    await this.pipeline.drain();
    await this.closeStorage();
    const { storage, loaded } = await load(this.path, this.durability, false);
    this.storage = storage;
    this.storageClosed = false;
    const differences = this.pipeline.differences(loaded, { state: (name) => this.state(name), all: () => [...this.states.values()] });
    if (differences.length > 0) {
      // Memory showed what the disk does not hold (or the reverse): what readers saw is no longer a
      // prefix of this history, which starts again.
      this.history = newHistory();
      await storage.startHistory(this.history);
    } else {
      this.history = loaded.history!;
    }
    this.pipeline.resume(storage, loaded, differences);
  }

  /** Waits for every write already queued and every backup under way, closes storage, then completes every stream. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.router?.close();
      await this.pipeline.drain();
      await Promise.all(this.backups);
      // After a failed commit storage that does not take writes again is left open rather than
      // hang (see Storage.writable): the directory stays locked until the process exits.
      await this.closeStorage().catch((error) => {
        if (!this.pipeline.stopped) throw error;
      });
      for (const state of this.states.values()) state.complete();
      this.pipeline.dispatcher.complete();
      this.pipeline.errors$.complete();
    })());
  }

  /**
   * Closes the storage once. After a failed commit it first waits for storage to take writes
   * again (and throws if it does not): see Storage.writable.
   */
  private async closeStorage(): Promise<void> {
    if (this.storageClosed) return;
    if (this.pipeline.stopped) await this.untilWritable();
    await this.storage.close();
    this.storageClosed = true;
  }

  private async untilWritable(): Promise<void> {
    try {
      await this.storage.writable(WRITABLE_WAIT_MS);
    } catch (cause) {
      throw new RxkvError(
        ErrorCode.COMMIT_FAILED,
        `Storage still refuses writes (${(cause as Error).message}): free space or fix the disk, then call recover() again.`,
        { cause },
      );
    }
  }
}
