// The system under test: rxkv through its public API, durability 'sync' unless stated.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { dump, loadDump, open } from 'rxkv';
import { GET_PASSES, SIZES, timeGets, keyOf, operations, percentile, random, record, runWindowed } from '../workload.js';

export async function W1p({ dir }) {
  const db = await open(dir);
  const table = db.table('bench');
  const { keys, patches } = operations(SIZES.W1_OPS, SIZES.W1_KEYS);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const start = performance.now();
  await runWindowed(SIZES.W1_OPS, SIZES.W1_WINDOW, (i) => table.merge(keys[i], patches[i]));
  const seconds = (performance.now() - start) / 1000;
  delay.disable();
  await db.close();
  return { opsPerSec: SIZES.W1_OPS / seconds, loopP99Ms: delay.percentile(99) / 1e6 };
}

export async function W1s({ dir }) {
  const db = await open(dir);
  const table = db.table('bench');
  const { keys, patches } = operations(SIZES.W1_SEQ_OPS, SIZES.W1_KEYS);
  const latencies = new Array(SIZES.W1_SEQ_OPS);
  for (let i = 0; i < SIZES.W1_SEQ_OPS; i++) {
    const start = performance.now();
    await table.merge(keys[i], patches[i]);
    latencies[i] = performance.now() - start;
  }
  await db.close();
  latencies.sort((a, b) => a - b);
  return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** Writes `rows` full records in large transactions. */
async function fill(db, rows) {
  const table = db.table('bench');
  const chunk = 10000;
  for (let from = 0; from < rows; from += chunk) {
    await db.transaction((tx) => {
      const t = tx.table('bench');
      for (let i = from; i < Math.min(rows, from + chunk); i++) t.put(keyOf(i), record(i));
    });
  }
  return table;
}

export async function W2({ dir }) {
  const db = await open(dir, { durability: 'memory' });
  const table = await fill(db, SIZES.W2_KEYS);
  const next = random(2);
  const keys = Array.from({ length: SIZES.W2_GETS }, () => keyOf(Math.floor(next() * SIZES.W2_KEYS)));
  const { found, seconds } = timeGets(keys, (key) => table.get(key));
  await db.close();
  if (found !== keys.length * GET_PASSES) throw new Error('rxkv lost records');
  return { opsPerSec: keys.length / seconds };
}

/**
 * W3: merges with 10,000 per-key subscribers (one per key) and 10 whole-table subscribers, or
 * none; deliveries are counted and checked.
 */
export async function W3({ dir, subscribers }) {
  const db = await open(dir);
  const table = db.table('bench');
  const { keys, patches } = operations(SIZES.W3_MERGES, SIZES.W3_KEYS, 3);
  let perKey = 0;
  let wholeTable = 0;
  const subscriptions = [];
  if (subscribers) {
    for (let i = 0; i < SIZES.W3_KEYS; i++) subscriptions.push(table.changes({ key: keyOf(i) }).subscribe(() => perKey++));
    for (let i = 0; i < 10; i++) subscriptions.push(table.changes().subscribe(() => wholeTable++));
  }
  const start = performance.now();
  await runWindowed(SIZES.W3_MERGES, SIZES.W1_WINDOW, (i) => table.merge(keys[i], patches[i]));
  const seconds = (performance.now() - start) / 1000;
  for (const subscription of subscriptions) subscription.unsubscribe();
  await db.close();
  if (subscribers && (perKey !== SIZES.W3_MERGES || wholeTable !== 10 * SIZES.W3_MERGES)) {
    throw new Error(`W3 deliveries: ${perKey} per key, ${wholeTable} whole table`);
  }
  return { opsPerSec: SIZES.W3_MERGES / seconds, deliveries: perKey + wholeTable };
}

/** Builds the database that W4, W5 and M1 read: `rows` full records. */
export async function build({ dir, rows }) {
  const db = await open(dir, { durability: 'wal' });
  await fill(db, rows);
  await db.close();
  return {};
}

/** W5 and M1: open until the first get is served, then the heap held; W4: merges into it. */
export async function load({ dir, rows }) {
  global.gc();
  const before = process.memoryUsage().heapUsed;
  const start = performance.now();
  const db = await open(dir);
  const table = db.table('bench');
  if (table.get(keyOf(0)) === undefined) throw new Error('rxkv lost records');
  const loadSeconds = (performance.now() - start) / 1000;
  global.gc();
  const heapBytes = process.memoryUsage().heapUsed - before;
  if (table.size !== rows) throw new Error(`rxkv loaded ${table.size} of ${rows} records`);
  const mergeMicros = await merges(table, rows);
  await db.close();
  return { loadSeconds, heapBytes, mergeMicros };
}

async function merges(table, rows) {
  const { keys, patches } = operations(SIZES.W4_MERGES, rows, 4);
  const start = performance.now();
  await runWindowed(keys.length, SIZES.W1_WINDOW, (i) => table.merge(keys[i], patches[i]));
  return ((performance.now() - start) * 1000) / keys.length;
}

/** W8: the database of `rows` records at `dir` dumped to NDJSON in `file` (the open is not timed). */
export async function W8({ dir, rows, file }) {
  const db = await open(dir);
  const start = performance.now();
  const output = createWriteStream(file);
  const { records } = await dump(db, output);
  await new Promise((resolve, reject) => output.end((error) => (error ? reject(error) : resolve())));
  const seconds = (performance.now() - start) / 1000;
  await db.close();
  if (records !== rows) throw new Error(`W8 dumped ${records} of ${rows} records`);
  return { seconds };
}

/** W9: the dump in `file` loaded into a new database at `dir` (metadata kept). */
export async function W9({ dir, rows, file }) {
  const start = performance.now();
  const { records } = await loadDump(dir, createInterface({ input: createReadStream(file), crlfDelay: Infinity }));
  const seconds = (performance.now() - start) / 1000;
  if (records !== rows) throw new Error(`W9 loaded ${records} of ${rows} records`);
  return { seconds };
}

/**
 * W10: W1p's durable merges on the database of `rows` records at `dir`, with a backup of it
 * running (`backup: true`) or not; the merges' rate and the event loop's p99 delay meanwhile.
 */
export async function W10({ dir, backup }) {
  const db = await open(dir);
  const table = db.table('bench');
  const { keys, patches } = operations(SIZES.W1_OPS, SIZES.W1_KEYS);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const copying = backup ? db.backup(join(dir, '..', `${dir.split('/').at(-1)}-backup`)) : null;
  delay.enable();
  const start = performance.now();
  await runWindowed(SIZES.W1_OPS, SIZES.W1_WINDOW, (i) => table.merge(keys[i], patches[i]));
  const seconds = (performance.now() - start) / 1000;
  delay.disable();
  const backedUp = copying === null ? null : await copying;
  await db.close();
  return { opsPerSec: SIZES.W1_OPS / seconds, loopP99Ms: delay.percentile(99) / 1e6, backupRecords: backedUp?.records ?? null };
}
