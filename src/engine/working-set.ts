import type { Entry } from './entry.js';
import type { TableState } from './table-state.js';

/**
 * The state a batch is applied to: the committed state plus the writes of the batch so far.
 * A layer over another working set holds a transaction's writes until it succeeds (`fold`)
 * or fails (dropped), so that a failed transaction leaves no trace.
 */
export class WorkingSet {
  private readonly written = new Map<TableState, Map<string, Entry | undefined>>();

  constructor(private readonly parent: WorkingSet | null = null) {}

  read(state: TableState, key: string): Entry | undefined {
    const table = this.written.get(state);
    if (table !== undefined && table.has(key)) return table.get(key);
    return this.parent !== null ? this.parent.read(state, key) : state.entries.get(key);
  }

  write(state: TableState, key: string, entry: Entry | undefined): void {
    let table = this.written.get(state);
    if (table === undefined) this.written.set(state, (table = new Map()));
    table.set(key, entry);
  }

  /** Every key present in the table as this working set sees it, in no particular order. */
  presentKeys(state: TableState): string[] {
    const keys = new Set(this.parent !== null ? this.parent.presentKeys(state) : state.entries.keys());
    const table = this.written.get(state);
    if (table !== undefined) {
      for (const [key, entry] of table) {
        if (entry === undefined) keys.delete(key);
        else keys.add(key);
      }
    }
    return [...keys];
  }

  /** Moves this layer's writes into its parent. */
  fold(): void {
    for (const [state, table] of this.written) for (const [key, entry] of table) this.parent!.write(state, key, entry);
  }
}
