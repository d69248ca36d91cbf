// Baseline `rocksdb-raw`: the same `rocksdb` binding driven directly, through the fastest calls it
// has (a native WriteBatch filled one call per record, as rxkv does): a plain Map cache, the
// hand-written deep merge, values as JSON strings, group commit (every op issued while a batch
// commits goes in the next batch), the same sync setting.
import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SIZES, deepMerge, operations, percentile, runWindowed } from '../workload.js';

const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb');
const binding = require('rocksdb/binding.js');

async function openRaw(dir) {
  const db = rocksdb(dir);
  await new Promise((resolve, reject) => db.open({ createIfMissing: true }, (error) => (error ? reject(error) : resolve())));
  return db;
}

function closeRaw(db) {
  return new Promise((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
}

/** Group commit: ops wait while a batch is in flight, then all go in the next one. */
class GroupCommitter {
  constructor(db) {
    this.db = db;
    this.batch = null;
    this.callbacks = [];
    this.inFlight = false;
    this.scheduled = false;
  }

  put(key, value) {
    return new Promise((resolve, reject) => {
      this.batch ??= binding.batch_init(this.db.context);
      binding.batch_put(this.batch, key, value);
      this.callbacks.push({ resolve, reject });
      if (!this.inFlight && !this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  flush() {
    this.scheduled = false;
    if (this.inFlight || this.batch === null) return;
    const batch = this.batch;
    const callbacks = this.callbacks;
    this.batch = null;
    this.callbacks = [];
    this.inFlight = true;
    binding.batch_write(batch, { sync: true }, (error) => {
      this.inFlight = false;
      for (const { resolve, reject } of callbacks) error ? reject(error) : resolve();
      if (this.batch !== null && !this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }
}

export async function W1p({ dir }) {
  const db = await openRaw(dir);
  const cache = new Map();
  const committer = new GroupCommitter(db);
  const { keys, patches } = operations(SIZES.W1_OPS, SIZES.W1_KEYS);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const start = performance.now();
  await runWindowed(SIZES.W1_OPS, SIZES.W1_WINDOW, (i) => {
    const key = keys[i];
    const value = deepMerge(cache.get(key), patches[i]);
    cache.set(key, value);
    return committer.put(key, JSON.stringify(value));
  });
  const seconds = (performance.now() - start) / 1000;
  delay.disable();
  await closeRaw(db);
  return { opsPerSec: SIZES.W1_OPS / seconds, loopP99Ms: delay.percentile(99) / 1e6 };
}

export async function W1s({ dir }) {
  const db = await openRaw(dir);
  const cache = new Map();
  const { keys, patches } = operations(SIZES.W1_SEQ_OPS, SIZES.W1_KEYS);
  const latencies = new Array(SIZES.W1_SEQ_OPS);
  for (let i = 0; i < SIZES.W1_SEQ_OPS; i++) {
    const start = performance.now();
    const value = deepMerge(cache.get(keys[i]), patches[i]);
    cache.set(keys[i], value);
    const batch = binding.batch_init(db.context);
    binding.batch_put(batch, keys[i], JSON.stringify(value));
    await new Promise((resolve, reject) => binding.batch_write(batch, { sync: true }, (error) => (error ? reject(error) : resolve())));
    latencies[i] = performance.now() - start;
  }
  await closeRaw(db);
  latencies.sort((a, b) => a - b);
  return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** W5 baseline: open, iterate every pair and JSON.parse each value into a Map. */
export async function load({ dir }) {
  const start = performance.now();
  const db = await openRaw(dir);
  const map = new Map();
  // The records' key range ('r' + table + '\0' + key): rxkv's few meta keys are not records.
  const iterator = binding.iterator_init(db.context, {
    gte: 'r',
    lt: 's',
    keys: true,
    values: true,
    keyAsBuffer: false,
    valueAsBuffer: false,
    fillCache: false,
    highWaterMark: 1 << 20,
  });
  await new Promise((resolve, reject) => {
    const next = () =>
      binding.iterator_next(iterator, (error, array, finished) => {
        if (error) return reject(error);
        for (let i = array.length - 1; i > 0; i -= 2) map.set(array[i], JSON.parse(array[i - 1]));
        if (finished) binding.iterator_end(iterator, (endError) => (endError ? reject(endError) : resolve()));
        else next();
      });
    next();
  });
  const loadSeconds = (performance.now() - start) / 1000;
  const size = map.size;
  await closeRaw(db);
  return { loadSeconds, size };
}

/** Compacts a freshly built database, so that every reader opens it without replaying a WAL. */
export async function compact({ dir }) {
  const db = await openRaw(dir);
  await new Promise((resolve, reject) => db.compactRange('\u0000', '\u00ff', (error) => (error ? reject(error) : resolve())));
  await closeRaw(db);
  return {};
}

/** W9 baseline: the NDJSON lines of `file` parsed and put in batches of 2,000, the last one synced. */
export async function loadLines({ dir, file }) {
  const { createReadStream } = await import('node:fs');
  const { createInterface } = await import('node:readline');
  const start = performance.now();
  const db = await openRaw(dir);
  const write = (batch, sync) => new Promise((resolve, reject) => binding.batch_write(batch, { sync }, (error) => (error ? reject(error) : resolve())));
  let batch = binding.batch_init(db.context);
  let inBatch = 0;
  let records = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    const parsed = JSON.parse(line);
    if (parsed.format !== undefined) continue; // the dump's header
    binding.batch_put(batch, 'r' + parsed.table + '\u0000' + parsed.key, JSON.stringify(parsed.value));
    records++;
    if (++inBatch === 2000) {
      await write(batch, false);
      batch = binding.batch_init(db.context);
      inBatch = 0;
    }
  }
  await write(batch, true);
  const seconds = (performance.now() - start) / 1000;
  await closeRaw(db);
  return { seconds, records };
}
