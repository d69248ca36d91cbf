// The shared, seeded operation stream and records of BENCHMARKS.md: every system replays the
// same choices, so their figures compare.

const CITIES = ['Oslo', 'Bergen', 'Lyon', 'Porto', 'Kyoto', 'Quito', 'Accra', 'Perth'];

/** mulberry32: small, fast, seeded. */
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function keyOf(i) {
  return 'k' + String(i).padStart(8, '0');
}

/** A full record: { name, profile: { age, city, tags[3] }, counters: { a, b } }. */
export function record(i) {
  return {
    name: `user ${i}`,
    profile: { age: i % 97, city: CITIES[i % CITIES.length], tags: [`t${i % 5}`, `t${i % 7}`, `t${i % 11}`] },
    counters: { a: i, b: 0 },
  };
}

/**
 * The merge operations: a small partial, `{ profile: { age } }` or `{ counters: { a } }`, into a
 * random key. Returns parallel arrays so that generating them costs nothing while timed.
 */
export function operations(count, keys, seed = 1) {
  const next = random(seed);
  const opKeys = new Array(count);
  const patches = new Array(count);
  for (let i = 0; i < count; i++) {
    opKeys[i] = keyOf(Math.floor(next() * keys));
    patches[i] = next() < 0.5 ? { profile: { age: i } } : { counters: { a: i } };
  }
  return { keys: opKeys, patches };
}

/** The hand-written deep merge of the baselines (RFC 7396 semantics, no sharing or freezing). */
export function deepMerge(target, patch) {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const member of Object.keys(patch)) {
    const value = patch[member];
    if (value === null) delete out[member];
    else out[member] = deepMerge(out[member], value);
  }
  return out;
}

/** Runs `count` operations through `issue(i) -> Promise`, keeping `window` in flight. */
export function runWindowed(count, window, issue) {
  return new Promise((resolve, reject) => {
    let issued = 0;
    let done = 0;
    const next = () => {
      if (issued >= count) return;
      const i = issued++;
      issue(i).then(() => {
        if (++done === count) resolve();
        else next();
      }, reject);
    };
    for (let i = 0; i < Math.min(window, count); i++) next();
  });
}

export const GET_PASSES = 5;

/**
 * Times `get` over every key, GET_PASSES times, and keeps the median pass: one pass of a million
 * gets lasts a few hundred milliseconds, short enough for a stray pause to skew it.
 */
export function timeGets(keys, get) {
  const passes = [];
  let found = 0;
  for (let pass = 0; pass < GET_PASSES; pass++) {
    const start = performance.now();
    for (let i = 0; i < keys.length; i++) if (get(keys[i]) !== undefined) found++;
    passes.push((performance.now() - start) / 1000);
  }
  passes.sort((a, b) => a - b);
  return { found, seconds: passes[GET_PASSES >> 1] };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Latency histograms in buckets of HISTOGRAM_MS: client processes of W11 and W12 send these instead
 * of every sample (W12 has millions), as arrays of [bucket, count].
 */
const HISTOGRAM_MS = 0.01;
/** A bucket's latency, ms (a division: `bucket * 0.01` prints as 7.3500000000000005). */
const bucketMs = (bucket) => bucket / (1 / HISTOGRAM_MS);

export function addLatency(histogram, ms, count = 1) {
  const bucket = Math.round(ms / HISTOGRAM_MS);
  histogram.set(bucket, (histogram.get(bucket) ?? 0) + count);
}

/** p50, p99, min and max (ms) of histograms merged. */
export function histogramFigures(histograms) {
  const merged = new Map();
  for (const entries of histograms) for (const [bucket, count] of entries) merged.set(bucket, (merged.get(bucket) ?? 0) + count);
  const buckets = [...merged.entries()].sort(([a], [b]) => a - b);
  const samples = buckets.reduce((sum, [, count]) => sum + count, 0);
  const at = (p) => {
    const rank = Math.min(samples - 1, Math.floor((p / 100) * samples));
    let seen = 0;
    for (const [bucket, count] of buckets) if ((seen += count) > rank) return bucketMs(bucket);
    return 0;
  };
  return {
    p50Ms: at(50),
    p99Ms: at(99),
    minMs: samples === 0 ? 0 : bucketMs(buckets[0][0]),
    maxMs: samples === 0 ? 0 : bucketMs(buckets[buckets.length - 1][0]),
    samples,
  };
}

/**
 * The heap and rss of this process after full collections (children run with --expose-gc), with
 * turns of the event loop between them: finalizers and weak callbacks queued by one run first.
 */
export async function memory() {
  for (let i = 0; i < 4; i++) {
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

export function env(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : Number(value);
}

export const SIZES = {
  W1_OPS: env('W1_OPS', 100000),
  W1_KEYS: env('W1_KEYS', 10000),
  W1_WINDOW: env('W1_WINDOW', 1000),
  W1_SEQ_OPS: env('W1_SEQ_OPS', 2000),
  W2_KEYS: env('W2_KEYS', 100000),
  W2_GETS: env('W2_GETS', 1000000),
  W3_KEYS: env('W3_KEYS', 10000),
  W3_MERGES: env('W3_MERGES', 50000),
  W4_SMALL: env('W4_SMALL', 1000),
  W4_LARGE: env('W4_LARGE', 1000000),
  W4_MERGES: env('W4_MERGES', 20000),
  W5_ROWS: env('W5_ROWS', 1000000),
  SYNC_CLIENTS: env('SYNC_CLIENTS', 100),
  SYNC_PROCS: env('SYNC_PROCS', 1),
  W6_MERGES: env('W6_MERGES', 1000),
  W6_INTERVAL_MS: env('W6_INTERVAL_MS', 5),
  W6_KEYS: env('W6_KEYS', 100),
  W7_OPS: env('W7_OPS', 50000),
  W7R_RECORDS: env('W7R_RECORDS', 10000),
  W7R_CHANGES: env('W7R_CHANGES', 20),
  W11_CLIENTS: env('W11_CLIENTS', 10000),
  W11_PROCS: env('W11_PROCS', 4),
  W11_MERGES: env('W11_MERGES', 2000),
  W11_INTERVAL_MS: env('W11_INTERVAL_MS', 5),
  W12_CLIENTS: env('W12_CLIENTS', 1000),
  W12_PROCS: env('W12_PROCS', 2),
  W12_MERGES: env('W12_MERGES', 5000),
  W12_INTERVAL_MS: env('W12_INTERVAL_MS', 1),
  O1_WRITES: env('O1_WRITES', 5000),
  O1_WINDOW: env('O1_WINDOW', 100),
  O2_CHANGES: env('O2_CHANGES', 20000),
  O3_RECORDS: env('O3_RECORDS', 10000),
  O4_WRITES: env('O4_WRITES', 5000),
  O4_WINDOW: env('O4_WINDOW', 100),
  C1_OPS: env('C1_OPS', 100000),
  C2_MERGES: env('C2_MERGES', 1000),
  C2_INTERVAL_MS: env('C2_INTERVAL_MS', 5),
  C3_MISSED: env('C3_MISSED', 100000),
};

/** W11's figures of its accepted connections, the same for rxkv and its baseline: heap and rss per connection (against `idle`), the accept rate. */
export function acceptFigures({ idle, live, connections, acceptMs, acceptCpuMicros }) {
  return {
    heapPerConnectionKiB: (live.heapUsed - idle.heapUsed) / connections / 1024,
    rssPerConnectionKiB: (live.rss - idle.rss) / connections / 1024,
    connectionsPerSec: connections / (acceptMs / 1000),
    acceptMs,
    serverCpuMicrosPerAccept: acceptCpuMicros / connections,
  };
}

/** Writes lines to a file, as fast as the stream takes them; resolves once the file is closed. */
export async function writeLines(file, lines) {
  const { createWriteStream } = await import('node:fs');
  const stream = createWriteStream(file);
  for (const line of lines) if (!stream.write(line + '\n')) await new Promise((resolve) => stream.once('drain', resolve));
  await new Promise((resolve, reject) => stream.end((error) => (error ? reject(error) : resolve())));
}
