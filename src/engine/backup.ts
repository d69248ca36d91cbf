import { writeCopy, type CopiedRecord, type CopyProgress, type CopyResult } from './copy.js';
import type { Snapshot } from './snapshot.js';

export type BackupProgress = CopyProgress;
export type BackupResult = CopyResult;

/**
 * Writes `tables` (snapshots of one commit, `seq`) into a new database at `dest`, with a history
 * of its own: a copy and its source diverge once either writes.
 */
export function writeBackup(
  tables: readonly Snapshot[],
  seq: number,
  history: string,
  dest: string,
  progress: ((progress: BackupProgress) => void) | undefined,
  busy: () => boolean,
): Promise<BackupResult> {
  const total = tables.reduce((sum, table) => sum + table.size, 0);
  // The key lists are taken now, while the snapshots are current: later commits never make the
  // copy rebuild a snapshot's keys (see Snapshot.range).
  const ranges = tables.map((snapshot) => [snapshot, snapshot.range()] as const);
  return writeCopy(dest, recordsOf(ranges), total, seq, history, progress, busy);
}

function* recordsOf(ranges: readonly (readonly [Snapshot, Iterator<[string, unknown]>])[]): Generator<CopiedRecord> {
  for (const [snapshot, range] of ranges) {
    for (let next = range.next(); next.done !== true; next = range.next()) {
      const key = next.value[0];
      yield { table: snapshot.table, key, entry: snapshot.entry(key)! };
    }
  }
}
