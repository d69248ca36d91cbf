import { Entry } from '../model/record.js';
import type { TableState } from './table-state.js';

/** What applying an intent reads and writes: the committed state plus the writes before it. */
export interface WorkingState {
  read(state: TableState, key: string): Entry | undefined;
  /** `seq`: the commit writing it (a deleted record's tombstone carries it). */
  write(state: TableState, key: string, entry: Entry | undefined, seq: number): void;
  /** Every key present in the table as this state sees it, in no particular order. */
  presentKeys(state: TableState): string[];
}

/**
 * Marks a record deleted by a batch not yet published, so that one map lookup answers a read.
 * Each delete has its own, carrying its seq like an entry does: publishing a batch must tell its
 * own delete from a later batch's delete of the same record.
 */
class Tombstone extends Entry {
  constructor(seq: number) {
    super(null, 0, 0, seq);
  }
}

/**
 * The working state of the batches applied but not yet published: the newest version of every
 * record they wrote, per table, so that a read is one lookup there and one in the committed map.
 * Publishing a batch drops the versions it wrote, unless a later batch has written a newer one
 * since. The table looked up last is kept at hand: a batch mostly writes one table.
 */
export class BatchState implements WorkingState {
  private readonly pending = new Map<TableState, Map<string, Entry>>();
  private lastTable: TableState | null = null;
  private lastPending: Map<string, Entry> | undefined = undefined;

  read(state: TableState, key: string): Entry | undefined {
    const pending = this.pendingOf(state);
    if (pending !== undefined) {
      const entry = pending.get(key);
      if (entry !== undefined) return entry instanceof Tombstone ? undefined : entry;
    }
    return state.entries.get(key);
  }

  write(state: TableState, key: string, entry: Entry | undefined, seq: number): void {
    let pending = this.pendingOf(state);
    if (pending === undefined) {
      pending = new Map();
      this.pending.set(state, pending);
      this.lastPending = pending;
    }
    pending.set(key, entry ?? new Tombstone(seq));
  }

  presentKeys(state: TableState): string[] {
    const keys = new Set(state.entries.keys());
    const pending = this.pendingOf(state);
    if (pending !== undefined) {
      for (const [key, entry] of pending) {
        if (entry instanceof Tombstone) keys.delete(key);
        else keys.add(key);
      }
    }
    return [...keys];
  }

  /** A write of commit `seq` was published: the committed map holds it now, unless a later commit's is pending. */
  published(state: TableState, key: string, seq: number): void {
    const pending = this.pendingOf(state);
    if (pending === undefined) return;
    const entry = pending.get(key);
    if (entry !== undefined && entry.version <= seq) pending.delete(key);
  }

  /** Forgets every unpublished write (after a failed commit). */
  clear(): void {
    this.pending.clear();
    this.lastTable = null;
    this.lastPending = undefined;
  }

  private pendingOf(state: TableState): Map<string, Entry> | undefined {
    if (state !== this.lastTable) {
      this.lastTable = state;
      this.lastPending = this.pending.get(state);
    }
    return this.lastPending;
  }
}

/**
 * A transaction's writes over the batch's working state: folded into it only when the whole
 * transaction succeeds, dropped otherwise.
 */
export class TransactionLayer implements WorkingState {
  private readonly written = new Map<TableState, Map<string, Entry | undefined>>();

  constructor(
    private readonly parent: WorkingState,
    /** The transaction's seq. */
    private readonly seq: number,
  ) {}

  read(state: TableState, key: string): Entry | undefined {
    const table = this.written.get(state);
    if (table !== undefined && table.has(key)) return table.get(key);
    return this.parent.read(state, key);
  }

  write(state: TableState, key: string, entry: Entry | undefined): void {
    let table = this.written.get(state);
    if (table === undefined) this.written.set(state, (table = new Map()));
    table.set(key, entry);
  }

  presentKeys(state: TableState): string[] {
    const keys = new Set(this.parent.presentKeys(state));
    const table = this.written.get(state);
    if (table !== undefined) {
      for (const [key, entry] of table) {
        if (entry === undefined) keys.delete(key);
        else keys.add(key);
      }
    }
    return [...keys];
  }

  /** Drops the transaction's writes of one record: the batch keeps what it had. */
  forget(state: TableState, key: string): void {
    this.written.get(state)?.delete(key);
  }

  /** Moves the transaction's writes into the batch. */
  fold(): void {
    for (const [state, table] of this.written) for (const [key, entry] of table) this.parent.write(state, key, entry, this.seq);
  }
}
