import { mkdir, readdir, rm } from 'node:fs/promises';
import { ErrorCode, RxkvError, fail } from '../errors.js';
import type { Entry } from '../model/record.js';
import { encodeEntry } from '../storage/codec.js';
import { RocksStorage } from '../storage/rocksdb.js';
import type { StorageBatch } from '../storage/storage.js';

/** How far a copy has got. */
export interface CopyProgress {
  /** Records written so far, of `total` (when known). */
  readonly records: number;
  readonly total: number;
  /** Bytes of encoded records written so far. */
  readonly bytes: number;
}

/** One record to write into a new database: its table, key, and value with its metadata. */
export interface CopiedRecord {
  readonly table: string;
  readonly key: string;
  readonly entry: Entry;
}

/** What a finished copy holds. */
export interface CopyResult {
  readonly seq: number;
  readonly tables: number;
  readonly records: number;
  readonly bytes: number;
}

/** Records per batch of a copy: each batch is one write, between which the event loop goes on. */
const BATCH_RECORDS = 2000;
/**
 * While the database is busy writing, a copy waits this many times the time it spent encoding a
 * batch before the next one: it then takes at most about a third of the event loop from the
 * writes (measured: W10).
 */
const YIELD_FACTOR = 2;

/**
 * Writes `records` into a new database at `dest` (a new or empty directory), at commit `seq` (at
 * least the highest version written) and with `history`. The database is marked as being
 * written until its last, synced batch says it is done: one interrupted (an error, a kill) never
 * opens as if it were complete, and one that failed is removed. Batches are not synced one by
 * one: the last one syncs them all.
 */
export async function writeCopy(
  dest: string,
  records: Iterable<CopiedRecord> | AsyncIterable<CopiedRecord>,
  total: number,
  seq: number | undefined,
  history: string,
  progress: ((progress: CopyProgress) => void) | undefined,
  /** Whether the source is busy with writes now: the copy then gives them most of the event loop. */
  busy: () => boolean = () => false,
): Promise<CopyResult> {
  await checkDestination(dest);
  let written = 0;
  let bytes = 0;
  let highest = 0;
  const tables = new Set<string>();
  const storage = await RocksStorage.open(dest, false);
  try {
    await storage.startCopy();
    progress?.({ records: written, total, bytes });
    let batch: StorageBatch | null = null;
    let inBatch = 0;
    let batchStarted = performance.now();
    for await (const { table, key, entry } of records) {
      const encoded = encodeEntry(entry, Number.POSITIVE_INFINITY);
      (batch ??= storage.batch()).put(table, key, encoded);
      if (!table.startsWith('#')) tables.add(table); // the package's own tables are copied, not counted
      highest = Math.max(highest, entry.version);
      bytes += encoded.length;
      written++;
      if (++inBatch === BATCH_RECORDS) {
        const encoding = performance.now() - batchStarted;
        await write(batch);
        batch = null;
        inBatch = 0;
        progress?.({ records: written, total, bytes });
        if (busy()) await new Promise((resolve) => setTimeout(resolve, encoding * YIELD_FACTOR));
        batchStarted = performance.now();
      }
    }
    if (batch !== null) await write(batch);
    await storage.finishCopy(Math.max(seq ?? 0, highest), history);
    progress?.({ records: written, total: Math.max(total, written), bytes });
  } catch (error) {
    await storage.close().catch(() => undefined);
    await rm(dest, { recursive: true, force: true }).catch(() => undefined);
    throw error instanceof RxkvError ? error : new RxkvError(ErrorCode.COMMIT_FAILED, `Writing ${dest} failed (${(error as Error).message}): nothing usable was left there.`, { cause: error });
  }
  await storage.close();
  return { seq: Math.max(seq ?? 0, highest), tables: tables.size, records: written, bytes };
}

/** Whether `dest` can take a new database: absent, or an empty directory. */
export async function isFreshDestination(dest: string): Promise<boolean> {
  try {
    return (await readdir(dest)).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** A copy goes into a new directory, or an empty one: never over anything. */
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
    if (code === 'ENOTDIR') fail(ErrorCode.INVALID_ARGUMENT, `${dest} is a file, not a directory: nothing was written.`);
    throw error;
  }
  if (entries.length > 0) fail(ErrorCode.INVALID_ARGUMENT, `${dest} is not empty: write into a new or empty directory (nothing was written).`);
}

function write(batch: StorageBatch): Promise<void> {
  return new Promise((resolve, reject) => batch.write((error) => (error ? reject(error) : resolve())));
}
