import { ErrorCode, fail } from './errors.js';
import { checkTableName } from './engine/arguments.js';
import { Pipeline } from './engine/pipeline.js';
import { TableState } from './engine/table-state.js';
import type { Loaded, Storage } from './storage/storage.js';

/** What a database's tables and transactions share: the table states and the pipeline. */
export class DatabaseCore {
  readonly pipeline: Pipeline;
  readonly states = new Map<string, TableState>();
  closed = false;

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
    state.onIndexError = (error) => this.pipeline.errors$.next(error);
    this.states.set(state.name, state);
    return state;
  }

  /**
   * After a failed commit: closes storage, opens it again (and checks it) with `reopen`, and
   * resumes the pipeline on what is durable.
   */
  async recover(reopen: () => Promise<{ storage: Storage; loaded: Loaded }>): Promise<void> {
    if (!this.pipeline.stopped) return;
    await this.pipeline.drain();
    await this.storage.close().catch(() => undefined);
    const { storage, loaded } = await reopen();
    this.storage = storage;
    this.pipeline.resume(storage, loaded, { state: (name) => this.state(name), all: () => [...this.states.values()] });
  }

  checkOpen(): void {
    if (this.closed) fail(ErrorCode.DATABASE_CLOSED, `The database at ${this.path} is closed: open it again to write.`);
  }
}
