import { mkdir, readdir, rm } from 'node:fs/promises';
import { ErrorCode, RxkvError, fail } from '../errors.js';
import { encodeEntry } from '../storage/codec.js';
import { RocksStorage } from '../storage/rocksdb.js';
import type { StorageBatch } from '../storage/storage.js';
import type { Snapshot } from './snapshot.js';

/** How far a backup has got. */
export interface BackupProgress {
  /** Records copied so far, of `total`. */
  readonly records: number;
  readonly total: number;
  /** Bytes of encoded records copied so far. */
  readonly bytes: number;
}

/** What a finished backup holds: every table as of commit `seq`. */
export interface BackupResult {
  readonly seq: number;
  readonly tables: number;
  readonly records: number;
  readonly bytes: number;
}

/** Records per batch of the copy: each batch is one write to the copy, between which writes go on. */
const BATCH_RECORDS = 2000;

/**
 * Writes `tables` (snapshots of one commit, `seq`) into a new database at `dest`, with a history
 * of its own (a copy and its source diverge once either writes). The copy is marked as being
 * written until its last batch, synced, says it is done: one interrupted (an error, a kill) never
 * opens as if it were complete. Batches are not synced one by one: the last one syncs them all.
 */
export async function writeBackup(
  tables: readonly Snapshot[],
  seq: number,
  history: string,
  dest: string,
  progress: ((progress: BackupProgress) => void) | undefined,
): Promise<BackupResult> {
  await checkDestination(dest);
  const total = tables.reduce((sum, table) => sum + table.size, 0);
  let records = 0;
  let bytes = 0;
  const storage = await RocksStorage.open(dest, false);
  try {
    await storage.startCopy();
    progress?.({ records, total, bytes });
    for (const table of tables) {
      let batch: StorageBatch | null = null;
      let inBatch = 0;
      for (const [key] of table.range()) {
        const entry = table.entry(key)!;
        const encoded = encodeEntry(entry, Number.POSITIVE_INFINITY);
        (batch ??= storage.batch()).put(table.table, key, encoded);
        bytes += encoded.length;
        records++;
        if (++inBatch === BATCH_RECORDS) {
          await written(batch);
          batch = null;
          inBatch = 0;
          progress?.({ records, total, bytes });
        }
      }
      if (batch !== null) await written(batch);
    }
    await storage.finishCopy(seq, history);
    progress?.({ records, total, bytes });
  } catch (error) {
    await storage.close().catch(() => undefined);
    await rm(dest, { recursive: true, force: true }).catch(() => undefined);
    throw error instanceof RxkvError ? error : new RxkvError(ErrorCode.COMMIT_FAILED, `The backup to ${dest} failed (${(error as Error).message}): nothing usable was left there.`, { cause: error });
  }
  await storage.close();
  return { seq, tables: tables.filter((table) => table.size > 0).length, records, bytes };
}

/** A backup goes into a new directory, or an empty one: never over anything. */
async function checkDestination(dest: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dest);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      await mkdir(dest, { recursive: true });
      return;
    }
    if (code === 'ENOTDIR') fail(ErrorCode.INVALID_ARGUMENT, `backup: ${dest} is a file, not a directory: nothing was written.`);
    throw error;
  }
  if (entries.length > 0) fail(ErrorCode.INVALID_ARGUMENT, `backup: ${dest} is not empty: back up into a new or empty directory (nothing was written).`);
}

function written(batch: StorageBatch): Promise<void> {
  return new Promise((resolve, reject) => batch.write((error) => (error ? reject(error) : resolve())));
}
