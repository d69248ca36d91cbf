import { Entry } from './entry.js';
import type { TableState } from './table-state.js';

/** What applying an intent reads and writes: the committed state plus the writes before it. */
export interface WorkingState {
  read(state: TableState, key: string): Entry | undefined;
  write(state: TableState, key: string, entry: Entry | undefined): void;
  /** Every key present in the table as this state sees it, in no particular order. */
  presentKeys(state: TableState): string[];
}

/** Marks a record deleted by the batch, so that one map lookup answers a read. */
const ABSENT = new Entry(null, 0, 0, -1);

/**
 * The working state of the batch being applied. Its writes live on each touched table
 * (`TableState.pending`) for the time of the apply phase, so that a read is one lookup there and
 * one in the committed map; `seal()` drops them once the batch is encoded (the next batch is
 * applied only after this one is published, on the committed state).
 */
export class BatchState implements WorkingState {
  private touched: TableState[] = [];

  read(state: TableState, key: string): Entry | undefined {
    const pending = state.pending;
    if (pending !== null) {
      const entry = pending.get(key);
      if (entry !== undefined) return entry === ABSENT ? undefined : entry;
    }
    return state.entries.get(key);
  }

  write(state: TableState, key: string, entry: Entry | undefined): void {
    let pending = state.pending;
    if (pending === null) {
      pending = state.pending = new Map();
      this.touched.push(state);
    }
    pending.set(key, entry ?? ABSENT);
  }

  presentKeys(state: TableState): string[] {
    const keys = new Set(state.entries.keys());
    if (state.pending !== null) {
      for (const [key, entry] of state.pending) {
        if (entry === ABSENT) keys.delete(key);
        else keys.add(key);
      }
    }
    return [...keys];
  }

  seal(): void {
    for (const state of this.touched) state.pending = null;
    this.touched = [];
  }
}

/**
 * A transaction's writes over the batch's working state: folded into it only when the whole
 * transaction succeeds, dropped otherwise.
 */
export class TransactionLayer implements WorkingState {
  private readonly written = new Map<TableState, Map<string, Entry | undefined>>();

  constructor(private readonly parent: WorkingState) {}

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

  /** Moves the transaction's writes into the batch. */
  fold(): void {
    for (const [state, table] of this.written) for (const [key, entry] of table) this.parent.write(state, key, entry);
  }
}
