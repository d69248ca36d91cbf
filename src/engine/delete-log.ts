import type { Loaded, StorageBatch } from '../storage/storage.js';

/** What the delete log keeps, in memory and in storage: by default a week of deletes, up to 8 MiB of keys. */
export interface DeleteRetention {
  /** How long a delete is kept, in ms (default 7 days). */
  maxAge: number;
  /** About how many bytes of keys are kept at most (default 8 MiB); the oldest go first. */
  maxBytes: number;
}

/** The bytes a kept delete is counted for, beside its key: the seq, the time, the entries that hold it. */
const OVERHEAD_BYTES = 64;

interface Kept {
  readonly table: string;
  readonly key: string;
  readonly seq: number;
  readonly ts: number;
}

/**
 * The recent deletes of every table, kept in storage beside the records (a record's version says
 * when it last changed, but a deleted record has none): so that a reader that comes back with a
 * position (its last seq) is told what changed since, the records of a version above it and the
 * deletes above it, rather than everything, even after a restart. Bounded by age and bytes: once a
 * delete is forgotten, positions at or below its seq (the floor) can no longer be told apart.
 *
 * Deletes are noted when their batch is staged (before it is published): a delete forgotten later
 * is forgotten only if no later delete of its record was staged meanwhile, so the forgetting can
 * never remove what a later batch recorded.
 */
export class DeleteLog {
  /** Each table's kept deletes: key -> the seq of the record's last delete. */
  private readonly byTable = new Map<string, Map<string, number>>();
  /** Every kept delete, oldest first (from `start` on). */
  private queue: Kept[] = [];
  private start = 0;
  private bytes = 0;
  /** Deletes at or below this seq are no longer kept. */
  private floor: number;
  /** Whether storage holds the floor: a store that did not gets it with the first batch. */
  private floorStored: boolean;

  constructor(
    private readonly retention: DeleteRetention,
    loaded: Loaded,
  ) {
    // A store that never kept deletes may have had some: positions before its last seq cannot be told.
    this.floor = loaded.deletesFloor ?? loaded.seq;
    this.floorStored = loaded.deletesFloor !== undefined;
    const kept: Kept[] = [];
    for (const [table, deletes] of loaded.deletes) for (const [key, { seq, ts }] of deletes) kept.push({ table, key, seq, ts });
    kept.sort((a, b) => a.seq - b.seq);
    for (const each of kept) this.keep(each);
  }

  /** A delete staged in a batch. */
  staged(table: string, key: string, seq: number, ts: number): void {
    this.keep({ table, key, seq, ts });
  }

  /**
   * Forgets, in `batch`, the deletes past the retention at `now`: called once a batch's writes are
   * staged, so that it holds the forgetting and any newer delete of the same records.
   */
  prune(now: number, batch: StorageBatch): void {
    const forgotten: [string, string][] = [];
    const oldest = now - this.retention.maxAge;
    while (this.start < this.queue.length) {
      const head = this.queue[this.start]!;
      if (head.ts >= oldest && this.bytes <= this.retention.maxBytes) break;
      this.start++;
      this.bytes -= head.key.length + OVERHEAD_BYTES;
      this.floor = Math.max(this.floor, head.seq);
      const deletes = this.byTable.get(head.table)!;
      if (deletes.get(head.key) === head.seq) {
        deletes.delete(head.key);
        if (deletes.size === 0) this.byTable.delete(head.table);
        forgotten.push([head.table, head.key]);
      }
    }
    if (this.start > 1024 && this.start * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.start);
      this.start = 0;
    }
    if (forgotten.length > 0 || !this.floorStored) {
      batch.forgetDeletes(forgotten, this.floor);
      this.floorStored = true;
    }
  }

  /**
   * The keys of `table` deleted after `since` (some may exist again since: the caller checks), or
   * undefined when deletes after `since` may have been forgotten.
   */
  deletedSince(table: string, since: number): string[] | undefined {
    if (since < this.floor) return undefined;
    const deleted: string[] = [];
    for (const [key, seq] of this.byTable.get(table) ?? []) if (seq > since) deleted.push(key);
    return deleted;
  }

  private keep(kept: Kept): void {
    let deletes = this.byTable.get(kept.table);
    if (deletes === undefined) this.byTable.set(kept.table, (deletes = new Map()));
    deletes.set(kept.key, kept.seq);
    this.queue.push(kept);
    this.bytes += kept.key.length + OVERHEAD_BYTES;
  }
}
