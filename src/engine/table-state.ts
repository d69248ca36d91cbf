import { BehaviorSubject, type Observable } from 'rxjs';
import { ErrorCode, RxkvError, fail } from '../errors.js';
import type { Json } from '../json/types.js';
import type { Change } from '../model/change.js';
import type { ChangeFilter } from '../model/filter.js';
import type { Entry } from '../model/record.js';
import { SecondaryIndex, type IndexDefinition } from './secondary-index.js';
import type { Mutation } from './mutation.js';
import { ChangeDispatcher, type InitialSource } from './dispatch.js';
import { initialChanges } from './initial.js';
import { OrderedKeys } from './ordered-keys.js';
import { Snapshot } from './snapshot.js';

const PUBLISH = Symbol('publish');

/**
 * A `BehaviorSubject` that only the database can push to: `next()` from outside throws, so
 * that no caller can publish a snapshot that was never committed.
 */
export class StateSubject<S> extends BehaviorSubject<S> {
  private publishing = false;

  override next(value: S): void {
    if (!this.publishing) throw new RxkvError(ErrorCode.READ_ONLY, 'state$ is read-only: write through the table instead.');
    super.next(value);
  }

  /** @internal Keyed by a symbol the package does not export: not callable from outside. */
  [PUBLISH](value: S): void {
    this.publishing = true;
    try {
      super.next(value);
    } finally {
      this.publishing = false;
    }
  }
}

/**
 * What the handles of a table (`Table`, `TableIndex`, a query, a transaction) use of it: its
 * committed state, its streams and its indexes. The rest of `TableState` is the engine's: a
 * handle writes by handing its source back to the engine (`Engine.write`, `TableWriter`).
 */
export interface TableSource {
  readonly name: string;
  readonly size: number;
  /** The committed record under `key`. */
  entry(key: string): Entry | undefined;
  /** The current snapshot (see `TableState.head`). */
  readonly head: Snapshot;
  readonly state$: StateSubject<Snapshot>;
  /**
   * The changes a checked filter selects; with `initial`, the matching records first. Changes up
   * to `after` are skipped (subscribing in the middle of a commit's delivery).
   */
  changes(filter: ChangeFilter, after?: number): Observable<Change>;
  index(name: string): SecondaryIndex | undefined;
  /** Defines an index and builds it from the committed records; a name is defined once. */
  defineIndex(name: string, definition: IndexDefinition): void;
}

/** The committed state of one table, and the streams that publish it. */
export class TableState implements TableSource {
  readonly entries: Map<string, Entry>;
  readonly keys: OrderedKeys;
  readonly state$: StateSubject<Snapshot>;
  readonly dispatcher = new ChangeDispatcher();
  /** What `{ initial: true }` subscriptions to this table start from. */
  readonly initial: InitialSource = {
    seq: () => this.head.seq,
    changes: (filter) => initialChanges([this], filter),
  };
  /** Secondary indexes by name, maintained as commits are published. */
  readonly indexes = new Map<string, SecondaryIndex>();
  /** A table of the package's own (`#name`): its changes never go to `db.changes()`. */
  readonly internal: boolean;
  /** Where an index function's error goes: it never stops a commit. */
  onIndexError: (error: RxkvError) => void = () => undefined;

  constructor(
    readonly name: string,
    seq: number,
    entries = new Map<string, Entry>(),
    keys = new OrderedKeys(),
  ) {
    this.entries = entries;
    this.keys = keys;
    this.internal = name.startsWith('#');
    this.state$ = new StateSubject(new Snapshot(this, seq));
  }

  static loaded(name: string, seq: number, entries: Map<string, Entry>, sortedKeys: string[]): TableState {
    return new TableState(name, seq, entries, OrderedKeys.fromSorted(sortedKeys));
  }

  /** The current snapshot: once a commit is applied, the one it made, even before `state$` emits it. */
  get head(): Snapshot {
    return this.nextHead ?? this.state$.value;
  }

  get size(): number {
    return this.entries.size;
  }

  entry(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  changes(filter: ChangeFilter, after = 0): Observable<Change> {
    return this.dispatcher.observe(filter, this.initial, after);
  }

  index(name: string): SecondaryIndex | undefined {
    return this.indexes.get(name);
  }

  /** Applies a committed batch's mutations of this table, superseding the current snapshot. */
  apply(mutations: readonly Mutation[], seq: number): void {
    for (let i = 0; i < mutations.length; i++) {
      const { key, after } = mutations[i]!;
      if (this.indexes.size > 0) this.reindex(key, after?.value);
      // The key list follows the committed map itself, whatever the mutation says it replaced.
      if (after === undefined) {
        if (this.entries.delete(key)) this.keys.remove(key);
      } else {
        if (!this.entries.has(key)) this.keys.add(key);
        this.entries.set(key, after);
      }
    }
    const next = new Snapshot(this, seq);
    this.head.supersede(mutations, next);
    this.nextHead = next;
  }

  /** Defines an index and builds it from the committed records; a name is defined once. */
  defineIndex(name: string, definition: IndexDefinition): void {
    const existing = this.indexes.get(name);
    if (existing !== undefined) {
      // Declared again (each call site may build its own function): the same path or source is the same index.
      if (String(existing.definition) !== String(definition)) {
        fail(ErrorCode.INVALID_ARGUMENT, `Table ${this.name} already has an index ${name} with another definition.`);
      }
      return;
    }
    const index = new SecondaryIndex(name, definition);
    this.indexes.set(name, index);
    for (const [key, entry] of this.entries) this.indexOne(index, key, entry.value);
  }

  private reindex(key: string, value: Json | undefined): void {
    for (const index of this.indexes.values()) this.indexOne(index, key, value);
  }

  private indexOne(index: SecondaryIndex, key: string, value: Json | undefined): void {
    try {
      index.update(key, value);
    } catch (error) {
      this.onIndexError(
        new RxkvError(ErrorCode.INDEX_FAILED, `The function of index ${index.name} of table ${this.name} threw for ${key}: the record is left out of that index.`, {
          cause: error,
        }),
      );
    }
  }

  /** The snapshot made by the last `apply`, until published. */
  nextHead: Snapshot | null = null;

  /** Emits the snapshot built by `apply` on `state$`. */
  publish(): void {
    const next = this.nextHead!;
    this.nextHead = null;
    this.state$[PUBLISH](next);
  }

  complete(): void {
    this.state$.complete();
    this.dispatcher.complete();
  }
}
