// Baseline `plain-map`: a bare Map with the hand-written deep merge and no persistence, the
// in-memory ceiling.
import { GET_PASSES, SIZES, timeGets, deepMerge, keyOf, operations, random, record, writeLines } from '../workload.js';

function fill(count) {
  const map = new Map();
  for (let i = 0; i < count; i++) map.set(keyOf(i), record(i));
  return map;
}

export async function W2() {
  const map = fill(SIZES.W2_KEYS);
  const next = random(2);
  const keys = Array.from({ length: SIZES.W2_GETS }, () => keyOf(Math.floor(next() * SIZES.W2_KEYS)));
  const { found, seconds } = timeGets(keys, (key) => map.get(key));
  if (found !== keys.length * GET_PASSES) throw new Error('plain-map lost records');
  return { opsPerSec: keys.length / seconds };
}

/** W4: time per merge into a map of `rows` records (ten times rxkv's count: each is sub-µs). */
export async function merges({ rows }) {
  const map = fill(rows);
  const { keys, patches } = operations(SIZES.W4_MERGES * 10, rows, 4);
  const start = performance.now();
  for (let i = 0; i < keys.length; i++) map.set(keys[i], deepMerge(map.get(keys[i]), patches[i]));
  const micros = ((performance.now() - start) * 1000) / keys.length;
  return { mergeMicros: micros };
}

/** M1 baseline: the heap held by a Map of `rows` parsed records. */
export async function heap({ rows }) {
  global.gc();
  const before = process.memoryUsage().heapUsed;
  const map = new Map();
  for (let i = 0; i < rows; i++) map.set(keyOf(i), JSON.parse(JSON.stringify(record(i))));
  global.gc();
  const heapBytes = process.memoryUsage().heapUsed - before;
  if (map.size !== rows) throw new Error('plain-map lost records');
  return { heapBytes };
}

/** W8 baseline: a loop that writes a Map of `rows` records (with the same metadata fields) to an NDJSON file. */
export async function dump({ rows, file }) {
  const map = fill(rows);
  const start = performance.now();
  await writeLines(file, (function* () {
    for (const [key, value] of map) yield JSON.stringify({ table: 'bench', key, value, version: 1, created: 1796000000000, updated: 1796000000000 });
  })());
  return { seconds: (performance.now() - start) / 1000 };
}
