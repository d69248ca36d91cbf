import { ErrorCode, RxkvError, fail } from './errors.js';
import { checkTableName } from './engine/arguments.js';
import { Pipeline } from './engine/pipeline.js';
import { TableState } from './engine/table-state.js';
import type { Loaded, Storage } from './storage/storage.js';

/** How long recover() and close() wait for storage to take writes again after a failure. */
const WRITABLE_WAIT_MS = 5000;

/** What a database's tables and transactions share: the table states and the pipeline. */
export class DatabaseCore {
  readonly pipeline: Pipeline;
  readonly states = new Map<string, TableState>();
  closed = false;
  private storageClosed = false;
  private recovering: Promise<void> | null = null;

  constructor(
    readonly path: string,
    public storage: Storage,
    loaded: Loaded,
    readonly maxValueBytes: number,
  ) {
    this.pipeline = new Pipeline(storage, loaded.seq, maxValueBytes);
    for (const [name, { entries, keys }] of loaded.tables) {
      this.register(TableState.loaded(name, loaded.seq, entries, keys));
    }
  }

  /** The state of a table, created (empty) on first use. */
  state(name: string): TableState {
    let state = this.states.get(name);
    if (state === undefined) {
      checkTableName(name);
      state = this.register(new TableState(name, this.pipeline.seq));
    }
    return state;
  }

  private register(state: TableState): TableState {
    state.onIndexError = (error) => this.pipeline.report(error);
    this.states.set(state.name, state);
    return state;
  }

  /**
   * After a failed commit: closes storage, opens it again (and checks it) with `reopen`, and
   * resumes the pipeline on what is durable.
   */
  recover(reopen: () => Promise<{ storage: Storage; loaded: Loaded }>): Promise<void> {
    // One recovery at a time: a second call joins the first.
    return (this.recovering ??= this.recoverOnce(reopen).finally(() => {
      this.recovering = null;
    }));
  }

  private async recoverOnce(reopen: () => Promise<{ storage: Storage; loaded: Loaded }>): Promise<void> {
    if (!this.pipeline.stopped) return;
    await this.pipeline.drain();
    await this.closeStorage();
    const { storage, loaded } = await reopen();
    this.storage = storage;
    this.storageClosed = false;
    this.pipeline.resume(storage, loaded, { state: (name) => this.state(name), all: () => [...this.states.values()] });
  }

  /**
   * Closes the storage once. After a failed commit it first waits for storage to take writes
   * again (and throws if it does not): see Storage.writable.
   */
  async closeStorage(): Promise<void> {
    if (this.storageClosed) return;
    if (this.pipeline.stopped) await this.untilWritable();
    await this.storage.close();
    this.storageClosed = true;
  }

  /** After a failed commit, waits (a while) for storage to take writes again before closing it. */
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

  checkOpen(): void {
    if (this.closed) fail(ErrorCode.DATABASE_CLOSED, `The database at ${this.path} is closed: open it again to write.`);
  }
}
