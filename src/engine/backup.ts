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
): Promise<BackupResult> {
  const total = tables.reduce((sum, table) => sum + table.size, 0);
  return writeCopy(dest, recordsOf(tables), total, seq, history, progress);
}

function* recordsOf(tables: readonly Snapshot[]): Generator<CopiedRecord> {
  for (const snapshot of tables) {
    for (const [key] of snapshot.range()) yield { table: snapshot.table, key, entry: snapshot.entry(key)! };
  }
}
