// `npm run bench`: rxkv beside its in-run baselines on the workloads of BENCHMARKS.md. Each
// system runs in its own child process on the same seeded operations; every figure is the median
// of BENCH_REPS repetitions and every ratio the median of the ratios taken within a repetition.
// Tables go to stdout, progress to stderr, and everything to bench/results.json (or $BENCH_RESULTS).
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SIZES, env } from './workload.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPS = env('BENCH_REPS', 3);
const output = process.env.BENCH_RESULTS || join(here, 'results.json');
const root = mkdtempSync(join(tmpdir(), 'rxkv-bench-'));
let dirs = 0;
const freshDir = () => join(root, `db${dirs++}`);

function child(system, fn, args = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=8192', join(here, 'child.js'), system, fn, JSON.stringify(args)],
      { maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        const line = stdout.split('\n').find((text) => text.startsWith('RESULT '));
        if (error || line === undefined) reject(new Error(`${system} ${fn} failed: ${stderr || error?.message}`));
        else resolve(JSON.parse(line.slice(7)));
      },
    );
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const progress = (text) => process.stderr.write(`[bench] ${text}\n`);

/** Runs `pair()` REPS times; `pair` returns { rxkv, baseline } figures of one repetition. */
async function repeat(name, pair) {
  const reps = [];
  for (let rep = 1; rep <= REPS; rep++) {
    progress(`${name}: repetition ${rep} of ${REPS}`);
    reps.push(await pair(rep));
  }
  return reps;
}

/** Alternates which system goes first, so that neither always meets a warmer or cooler machine. */
async function both(rep, first, second) {
  if (rep % 2) {
    const a = await first();
    return [a, await second()];
  }
  const b = await second();
  return [await first(), b];
}

const workloads = {};
function record(id, { rxkv, baseline, ratio, unit, target, baselineName, description, extra }) {
  const [op, bound] = target.split(' ');
  const value = ratio ?? rxkv;
  // A target of '-': a bound measured to explain other figures, with nothing to reach.
  const met = target === '-' ? null : { '>=': value >= Number(bound), '<=': value <= Number(bound), '<': value < Number(bound), '>': value > Number(bound) }[op];
  workloads[id] = { rxkv, baseline, ratio, unit, target, met, baselineName, description, ...extra };
}

const started = performance.now();

// ---- W1p and W1e: durable merges, many in flight ----
{
  const reps = await repeat('W1p', (rep) =>
    both(rep, () => child('rxkv', 'W1p', { dir: freshDir() }), () => child('rocksdb-raw', 'W1p', { dir: freshDir() })),
  );
  record('W1p', {
    description: `${SIZES.W1_OPS} durable merges over ${SIZES.W1_KEYS} keys, up to ${SIZES.W1_WINDOW} in flight (sync)`,
    rxkv: median(reps.map(([r]) => r.opsPerSec)),
    baseline: median(reps.map(([, b]) => b.opsPerSec)),
    baselineName: 'rocksdb-raw',
    ratio: median(reps.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'ops/s',
    target: '>= 0.8',
  });
  record('W1e', {
    description: 'event-loop delay p99 while W1p runs',
    rxkv: median(reps.map(([r]) => r.loopP99Ms)),
    baseline: null,
    baselineName: 'none',
    ratio: null,
    unit: 'ms',
    target: '<= 10',
    extra: { context: { 'rocksdb-raw': median(reps.map(([, b]) => b.loopP99Ms)) } },
  });
}

// ---- W1s: one durable merge at a time ----
{
  const reps = await repeat('W1s', (rep) =>
    both(rep, () => child('rxkv', 'W1s', { dir: freshDir() }), () => child('rocksdb-raw', 'W1s', { dir: freshDir() })),
  );
  record('W1s', {
    description: `${SIZES.W1_SEQ_OPS} durable merges, each awaited before the next (p50 latency)`,
    rxkv: median(reps.map(([r]) => r.p50Ms)),
    baseline: median(reps.map(([, b]) => b.p50Ms)),
    baselineName: 'rocksdb-raw',
    ratio: median(reps.map(([r, b]) => r.p50Ms / b.p50Ms)),
    unit: 'ms (p50)',
    target: '<= 1.5',
    extra: { p99: { rxkv: median(reps.map(([r]) => r.p99Ms)), baseline: median(reps.map(([, b]) => b.p99Ms)) } },
  });
}

// ---- W2: in-memory reads ----
{
  const reps = await repeat('W2', (rep) =>
    both(rep, () => child('rxkv', 'W2', { dir: freshDir() }), () => child('plain-map', 'W2')),
  );
  record('W2', {
    description: `${SIZES.W2_GETS} random gets over ${SIZES.W2_KEYS} keys`,
    rxkv: median(reps.map(([r]) => r.opsPerSec)),
    baseline: median(reps.map(([, b]) => b.opsPerSec)),
    baselineName: 'plain-map',
    ratio: median(reps.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'gets/s',
    target: '>= 0.5',
  });
}

// ---- W3: subscribers cost only when their key changes ----
{
  const reps = await repeat('W3', (rep) =>
    both(
      rep,
      () => child('rxkv', 'W3', { dir: freshDir(), subscribers: true }),
      () => child('rxkv', 'W3', { dir: freshDir(), subscribers: false }),
    ),
  );
  record('W3', {
    description: `${SIZES.W3_MERGES} merges with ${SIZES.W3_KEYS} per-key and 10 whole-table subscribers`,
    rxkv: median(reps.map(([r]) => r.opsPerSec)),
    baseline: median(reps.map(([, b]) => b.opsPerSec)),
    baselineName: 'rxkv without subscribers',
    ratio: median(reps.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'merges/s',
    target: '>= 0.7',
    extra: { deliveries: reps[0][0].deliveries },
  });
}

// ---- W4, W5, M1: large tables ----
{
  progress(`building a ${SIZES.W5_ROWS}-record database (W5, M1) and ${SIZES.W4_LARGE} and ${SIZES.W4_SMALL} (W4)`);
  const built = new Map();
  const dataset = async (rows) => {
    if (!built.has(rows)) {
      const dir = freshDir();
      await child('rxkv', 'build', { dir, rows });
      await child('rocksdb-raw', 'compact', { dir });
      built.set(rows, dir);
    }
    return built.get(rows);
  };
  const copy = async (rows) => {
    const dir = freshDir();
    cpSync(await dataset(rows), dir, { recursive: true });
    return dir;
  };
  await dataset(SIZES.W5_ROWS);
  await dataset(SIZES.W4_LARGE);
  await dataset(SIZES.W4_SMALL);

  const w5 = await repeat('W5 and M1', async (rep) => {
    const rxkvLarge = await copy(SIZES.W5_ROWS);
    return both(
      rep,
      () => child('rxkv', 'load', { dir: rxkvLarge, rows: SIZES.W5_ROWS }),
      async () => ({
        ...(await child('rocksdb-raw', 'load', { dir: await copy(SIZES.W5_ROWS) })),
        ...(await child('plain-map', 'heap', { rows: SIZES.W5_ROWS })),
      }),
    );
  });
  record('W5', {
    description: `open a database of ${SIZES.W5_ROWS} records until the first get is served`,
    rxkv: median(w5.map(([r]) => r.loadSeconds)),
    baseline: median(w5.map(([, b]) => b.loadSeconds)),
    baselineName: 'rocksdb-raw (iterate, JSON.parse into a Map)',
    ratio: median(w5.map(([r, b]) => r.loadSeconds / b.loadSeconds)),
    unit: 's',
    target: '<= 1.5',
  });
  record('M1', {
    description: `heap held by ${SIZES.W5_ROWS} records after load`,
    rxkv: median(w5.map(([r]) => r.heapBytes)),
    baseline: median(w5.map(([, b]) => b.heapBytes)),
    baselineName: 'plain-map holding the same parsed values',
    ratio: median(w5.map(([r, b]) => r.heapBytes / b.heapBytes)),
    unit: 'bytes',
    target: '<= 2.0',
  });

  const w4 = await repeat('W4', async (rep) => {
    // With equal sizes, the W5 child has already measured merges into the large table.
    const large =
      SIZES.W4_LARGE === SIZES.W5_ROWS ? w5[rep - 1][0] : await child('rxkv', 'load', { dir: await copy(SIZES.W4_LARGE), rows: SIZES.W4_LARGE });
    const small = await child('rxkv', 'load', { dir: await copy(SIZES.W4_SMALL), rows: SIZES.W4_SMALL });
    const plainLarge = await child('plain-map', 'merges', { rows: SIZES.W4_LARGE });
    const plainSmall = await child('plain-map', 'merges', { rows: SIZES.W4_SMALL });
    return {
      rxkv: large.mergeMicros / small.mergeMicros,
      plain: plainLarge.mergeMicros / plainSmall.mergeMicros,
      large: large.mergeMicros,
      small: small.mergeMicros,
    };
  });
  record('W4', {
    description: `time per merge, table of ${SIZES.W4_LARGE} records vs ${SIZES.W4_SMALL} (growth)`,
    rxkv: median(w4.map((r) => r.rxkv)),
    baseline: median(w4.map((r) => r.plain)),
    baselineName: 'plain-map growth',
    ratio: median(w4.map((r) => r.rxkv / r.plain)),
    unit: 'x growth',
    target: '<= 2.0',
    extra: { mergeMicros: { large: median(w4.map((r) => r.large)), small: median(w4.map((r) => r.small)) } },
  });
  // W8, W9, W10: a dump of the large database, its load, and W1p while it is backed up.
  const dumps = freshDir();
  const w8 = await repeat('W8', (rep) =>
    both(
      rep,
      async () => child('rxkv', 'W8', { dir: await copy(SIZES.W5_ROWS), rows: SIZES.W5_ROWS, file: `${dumps}-rxkv-${rep}.ndjson` }),
      () => child('plain-map', 'dump', { rows: SIZES.W5_ROWS, file: `${dumps}-plain-${rep}.ndjson` }),
    ),
  );
  record('W8', {
    description: `dump ${SIZES.W5_ROWS} records to NDJSON`,
    rxkv: median(w8.map(([r]) => r.seconds)),
    baseline: median(w8.map(([, b]) => b.seconds)),
    baselineName: 'a loop stringifying a Map of the same records to a file',
    ratio: median(w8.map(([r, b]) => b.seconds / r.seconds)),
    unit: 's',
    target: '>= 0.5',
  });
  const w9 = await repeat('W9', (rep) =>
    both(
      rep,
      () => child('rxkv', 'W9', { dir: freshDir(), rows: SIZES.W5_ROWS, file: `${dumps}-rxkv-${rep}.ndjson` }),
      () => child('rocksdb-raw', 'loadLines', { dir: freshDir(), file: `${dumps}-rxkv-${rep}.ndjson` }),
    ),
  );
  record('W9', {
    description: `load the dump of ${SIZES.W5_ROWS} records into a new database`,
    rxkv: median(w9.map(([r]) => r.seconds)),
    baseline: median(w9.map(([, b]) => b.seconds)),
    baselineName: "rocksdb-raw's batched puts of the same lines",
    ratio: median(w9.map(([r, b]) => b.seconds / r.seconds)),
    unit: 's',
    target: '>= 0.5',
  });
  const w10 = await repeat('W10', async (rep) =>
    both(
      rep,
      async () => child('rxkv', 'W10', { dir: await copy(SIZES.W5_ROWS), backup: true }),
      async () => child('rxkv', 'W10', { dir: await copy(SIZES.W5_ROWS), backup: false }),
    ),
  );
  record('W10', {
    description: `W1p's durable merges on the ${SIZES.W5_ROWS}-record database while it is backed up`,
    rxkv: median(w10.map(([r]) => r.opsPerSec)),
    baseline: median(w10.map(([, b]) => b.opsPerSec)),
    baselineName: 'the same merges, no backup',
    ratio: median(w10.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'ops/s',
    target: '>= 0.7',
    extra: { loopP99Ms: { rxkv: median(w10.map(([r]) => r.loopP99Ms)), baseline: median(w10.map(([, b]) => b.loopP99Ms)) } },
  });
}


// ---- W6 and W7: the sync server, its replicas in child processes of their own ----
{
  const clients = `${SIZES.SYNC_CLIENTS} clients on loopback (${Math.min(10, SIZES.SYNC_CLIENTS)} whole-table)`;
  const reps = await repeat('W6', () => child('rxkv-sync', 'W6', { dir: freshDir() }));
  record('W6', {
    description: `commit to client delivery, ${clients}, 1 merge / ${SIZES.W6_INTERVAL_MS} ms`,
    rxkv: median(reps.map((r) => r.p99Ms)),
    baseline: null,
    baselineName: 'none',
    ratio: null,
    unit: 'ms (p99)',
    target: '< 5',
    extra: {
      p50Ms: median(reps.map((r) => r.p50Ms)),
      maxMs: median(reps.map((r) => r.maxMs)),
      samples: reps[0].samples,
      deliveries: reps[0].deliveries,
      expectedDeliveries: reps[0].expectedDeliveries,
      clockOffsetMs: Math.max(...reps.map((r) => r.clockOffsetMs)),
    },
  });

  const w7 = await repeat('W7', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: true }),
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: false }),
    ),
  );
  record('W7', {
    description: `${SIZES.W7_OPS} durable merges, up to ${SIZES.W1_WINDOW} in flight, served to ${clients}`,
    rxkv: median(w7.map(([r]) => r.opsPerSec)),
    baseline: median(w7.map(([, b]) => b.opsPerSec)),
    baselineName: 'the same server, no clients',
    ratio: median(w7.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'ops/s',
    target: '>= 0.8',
    extra: {
      // Until every replica had received every change it subscribed to.
      drainedOpsPerSec: median(w7.map(([r]) => r.drainedOpsPerSec)),
      // The server process's CPU (all threads) per merge: what it pays for its clients, apart from sharing the machine with them.
      cpuMicrosPerOp: { rxkv: median(w7.map(([r]) => r.cpuMicrosPerOp)), baseline: median(w7.map(([, b]) => b.cpuMicrosPerOp)) },
      // The client processes' CPU per change received (the clients share this machine's cores with the server).
      clientCpuMicrosPerDelivery: median(w7.map(([r]) => r.clientCpuMicrosPerDelivery)),
      deliveries: w7[0][0].deliveries,
      expectedDeliveries: w7[0][0].expectedDeliveries,
      reconnects: Math.max(...w7.map(([r]) => r.reconnects)),
    },
  });
  // W7d: whether the replicas keep up, W7's drained rate against its own write rate.
  record('W7d', {
    description: `W7's drained rate (every replica has every change it subscribed to) against its write rate`,
    rxkv: workloads.W7.drainedOpsPerSec,
    baseline: workloads.W7.rxkv,
    baselineName: "W7's write rate",
    ratio: median(w7.map(([r]) => r.drainedOpsPerSec / r.opsPerSec)),
    unit: 'ops/s',
    target: '>= 0.9',
  });
}

{
  // W7f: W7's drained rate against the physical limit of its fan-out here (plain ws, no rxkv).
  const w7f = await repeat('W7f', () => child('plain-fanout', 'W7'));
  const baseline = median(w7f.map((r) => r.drainedOpsPerSec));
  record('W7f', {
    description: `W7's drained rate (every replica has every change) against the same changes broadcast over plain ws to the same replicas, serialized once, parsed only`,
    rxkv: workloads.W7.drainedOpsPerSec,
    baseline,
    baselineName: 'plain ws fan-out',
    ratio: workloads.W7.drainedOpsPerSec / baseline,
    unit: 'ops/s',
    target: '>= 0.8',
    extra: {
      serverCpuMicrosPerOp: { rxkv: workloads.W7.cpuMicrosPerOp.rxkv, baseline: median(w7f.map((r) => r.serverCpuMicrosPerOp)) },
      clientCpuMicrosPerDelivery: { rxkv: workloads.W7.clientCpuMicrosPerDelivery, baseline: median(w7f.map((r) => r.clientCpuMicrosPerDelivery)) },
    },
  });
  // W7p: W7's server with the cheapest replicas possible (they only parse): what bounds W7 and W7f here.
  const w7p = await repeat('W7p', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: true, parseOnly: true }),
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: false }),
    ),
  );
  record('W7p', {
    description: "W7 with replicas that only parse (the sync protocol spoken by hand, no replica): its drained rate, the most W7 and W7f can reach on this machine",
    rxkv: median(w7p.map(([r]) => r.drainedOpsPerSec)),
    baseline: median(w7p.map(([, b]) => b.opsPerSec)),
    baselineName: 'the same server, no clients',
    ratio: median(w7p.map(([r, b]) => r.drainedOpsPerSec / b.opsPerSec)),
    unit: 'ops/s',
    target: '-',
    extra: {
      // Against plain ws's fan-out (W7f's baseline): W7f's ceiling.
      ratioToPlain: median(w7p.map(([r]) => r.drainedOpsPerSec)) / baseline,
      cpuMicrosPerOp: median(w7p.map(([r]) => r.cpuMicrosPerOp)),
      clientCpuMicrosPerDelivery: median(w7p.map(([r]) => r.clientCpuMicrosPerDelivery)),
      deliveries: w7p[0][0].deliveries,
      expectedDeliveries: w7p[0][0].expectedDeliveries,
    },
  });
  // W7c: what a replica costs per change it receives (W7's client processes), beside plain ws's parse only.
  record('W7c', {
    description: "a replica's CPU per change received in W7 (its process's CPU over the changes its replicas received)",
    rxkv: workloads.W7.clientCpuMicrosPerDelivery,
    baseline: workloads.W7f.clientCpuMicrosPerDelivery.baseline,
    baselineName: 'plain ws, parsed only (W7f)',
    ratio: null,
    unit: 'µs',
    target: '<= 5',
  });
}

{
  // W7z: W7 with permessage-deflate on, against W7 without: the bytes sent per change delivered.
  const w7z = await repeat('W7z', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: true, perMessageDeflate: true }),
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: true }),
    ),
  );
  const bytesPerDelivery = (r) => r.bytesSent / r.deliveries;
  record('W7z', {
    description: 'W7 with permessage-deflate on (`perMessageDeflate: true`): bytes the server sent per change delivered; beside, the drained rate',
    rxkv: median(w7z.map(([r]) => bytesPerDelivery(r))),
    baseline: median(w7z.map(([, b]) => bytesPerDelivery(b))),
    baselineName: 'W7, off (the default)',
    ratio: median(w7z.map(([r, b]) => bytesPerDelivery(r) / bytesPerDelivery(b))),
    unit: 'B/change',
    target: '-',
    extra: {
      drainedOpsPerSec: { rxkv: median(w7z.map(([r]) => r.drainedOpsPerSec)), baseline: median(w7z.map(([, b]) => b.drainedOpsPerSec)) },
      drainedRatio: median(w7z.map(([r, b]) => r.drainedOpsPerSec / b.drainedOpsPerSec)),
      cpuMicrosPerOp: { rxkv: median(w7z.map(([r]) => r.cpuMicrosPerOp)), baseline: median(w7z.map(([, b]) => b.cpuMicrosPerOp)) },
      clientCpuMicrosPerDelivery: { rxkv: median(w7z.map(([r]) => r.clientCpuMicrosPerDelivery)), baseline: median(w7z.map(([, b]) => b.clientCpuMicrosPerDelivery)) },
    },
  });
}

{
  // W7i: W7 with the inspector open on the change stream of the whole database.
  const w7i = await repeat('W7i', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: true, inspector: true }),
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: true }),
    ),
  );
  record('W7i', {
    description: `W7 with the inspector page open (headless Chromium) on the change stream of the whole database`,
    rxkv: median(w7i.map(([r]) => r.opsPerSec)),
    baseline: median(w7i.map(([, b]) => b.opsPerSec)),
    baselineName: 'W7 alone',
    ratio: median(w7i.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'ops/s',
    target: '>= 0.8',
    extra: {
      drainedOpsPerSec: { rxkv: median(w7i.map(([r]) => r.drainedOpsPerSec)), baseline: median(w7i.map(([, b]) => b.drainedOpsPerSec)) },
      cpuMicrosPerOp: { rxkv: median(w7i.map(([r]) => r.cpuMicrosPerOp)), baseline: median(w7i.map(([, b]) => b.cpuMicrosPerOp)) },
      lastSeqShown: w7i.map(([r]) => r.inspector.lastSeqShown),
    },
  });
}

{
  // W7b: what serving costs a database with no client connected.
  const w7b = await repeat('W7b', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: false }),
      () => child('rxkv-sync', 'W7', { dir: freshDir(), clients: false, served: false }),
    ),
  );
  record('W7b', {
    description: `${SIZES.W7_OPS} durable merges, up to ${SIZES.W1_WINDOW} in flight, on a served database with no client connected`,
    rxkv: median(w7b.map(([r]) => r.opsPerSec)),
    baseline: median(w7b.map(([, b]) => b.opsPerSec)),
    baselineName: 'the same database, not served',
    ratio: median(w7b.map(([r, b]) => r.opsPerSec / b.opsPerSec)),
    unit: 'ops/s',
    target: '>= 0.8',
    extra: { cpuMicrosPerOp: { rxkv: median(w7b.map(([r]) => r.cpuMicrosPerOp)), baseline: median(w7b.map(([, b]) => b.cpuMicrosPerOp)) } },
  });
}

{
  // W7r: a server restart, its replicas resumed against the same replicas taking snapshots.
  const w7r = await repeat('W7r', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W7r', { dir: freshDir(), snapshots: false }),
      () => child('rxkv-sync', 'W7r', { dir: freshDir(), snapshots: true }),
    ),
  );
  record('W7r', {
    description: `resume ${SIZES.SYNC_CLIENTS} replicas of ${SIZES.W7R_RECORDS} records after a server restart with ${SIZES.W7R_CHANGES + 1} changes: bytes sent`,
    rxkv: median(w7r.map(([r]) => r.bytes)),
    baseline: median(w7r.map(([, b]) => b.bytes)),
    baselineName: 'the same replicas taking snapshots',
    ratio: median(w7r.map(([r, b]) => r.bytes / b.bytes)),
    unit: 'B',
    target: '<= 0.1',
    extra: { ms: { rxkv: median(w7r.map(([r]) => r.ms)), baseline: median(w7r.map(([, b]) => b.ms)) } },
  });
}

{
  // W11 and W12 (issue 17, sync at scale), each beside the same sockets and sends over plain ws.
  const medians = (reps, name) => ({ rxkv: median(reps.map(([r]) => r[name])), baseline: median(reps.map(([, b]) => b[name])) });
  const w11 = await repeat('W11', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W11', { dir: freshDir() }),
      () => child('plain-fanout', 'W11'),
    ),
  );
  const replicas = `${SIZES.W11_CLIENTS} replicas on loopback (${Math.min(SIZES.W11_PROCS, SIZES.W11_CLIENTS)} processes), a key each`;
  record('W11', {
    description: `${replicas}: the server's heap per connection (all live, less the server before any)`,
    rxkv: median(w11.map(([r]) => r.heapPerConnectionKiB)),
    baseline: median(w11.map(([, b]) => b.heapPerConnectionKiB)),
    baselineName: 'a bare ws server',
    ratio: null,
    unit: 'KiB',
    target: '<= 20',
    extra: {
      rssPerConnectionKiB: medians(w11, 'rssPerConnectionKiB'),
      // From 'go' to every replica live (its initial record in), CONNECTING at once per process.
      connectionsPerSec: medians(w11, 'connectionsPerSec'),
      serverCpuMicrosPerAccept: medians(w11, 'serverCpuMicrosPerAccept'),
      // The CPU of the paced window (a merge every W11_INTERVAL_MS) over its merges and deliveries: mostly
      // what 10,000 idle connections cost meanwhile (rxkv's heartbeats: bare ws has none), not the merges.
      serverCpuMicrosPerMergeSlot: medians(w11, 'serverCpuMicrosPerMerge'),
      clientCpuMicrosPerDeliverySlot: medians(w11, 'clientCpuMicrosPerDelivery'),
    },
  });
  record('W11l', {
    description: `W11's commit to delivery, 1 merge / ${SIZES.W11_INTERVAL_MS} ms to a random one of the ${SIZES.W11_CLIENTS} keys`,
    rxkv: median(w11.map(([r]) => r.p99Ms)),
    baseline: median(w11.map(([, b]) => b.p99Ms)),
    baselineName: 'plain ws, the same sends',
    ratio: null,
    unit: 'ms (p99)',
    target: '< 10',
    extra: {
      p50Ms: medians(w11, 'p50Ms'),
      maxMs: medians(w11, 'maxMs'),
      samples: w11[0][0].samples,
      deliveries: { rxkv: w11[0][0].deliveries, baseline: w11[0][1].deliveries },
      expectedDeliveries: w11[0][0].expectedDeliveries,
      reconnects: Math.max(...w11.map(([r]) => r.reconnects)),
      clockOffsetMs: Math.max(...w11.map(([r]) => r.clockOffsetMs)),
    },
  });

  const w12 = await repeat('W12', (rep) =>
    both(
      rep,
      () => child('rxkv-sync', 'W12', { dir: freshDir() }),
      () => child('plain-fanout', 'W12'),
    ),
  );
  record('W12', {
    description: `one key, ${SIZES.W12_CLIENTS} subscribers (${Math.min(SIZES.W12_PROCS, SIZES.W12_CLIENTS)} processes), ${SIZES.W12_MERGES} merges at 1 / ${SIZES.W12_INTERVAL_MS} ms: commit to delivery`,
    rxkv: median(w12.map(([r]) => r.p99Ms)),
    baseline: median(w12.map(([, b]) => b.p99Ms)),
    baselineName: 'plain ws, the same changes to the same sockets',
    ratio: null,
    unit: 'ms (p99)',
    target: '< 20',
    extra: {
      p50Ms: medians(w12, 'p50Ms'),
      // The server process's CPU from the first merge until every replica had the last, per change received.
      serverCpuMicrosPerDelivery: medians(w12, 'serverCpuMicrosPerDelivery'),
      clientCpuMicrosPerDelivery: medians(w12, 'clientCpuMicrosPerDelivery'),
      // The merges' rate until the last was committed (sent, for the baseline): the schedule's is 1000 / W12_INTERVAL_MS.
      mergesPerSec: medians(w12, 'mergesPerSec'),
      drainedSeconds: medians(w12, 'drainedSeconds'),
      deliveries: { rxkv: w12[0][0].deliveries, baseline: w12[0][1].deliveries },
      expectedDeliveries: w12[0][0].expectedDeliveries,
      reconnects: Math.max(...w12.map(([r]) => r.reconnects)),
    },
  });
}

// ---- O1 and O2: optimistic writes of a replica (issue 16; the targets are ours) ----
{
  const o1 = await repeat('O1', () => child('rxkv-optimistic', 'O1', { dir: freshDir() }));
  record('O1', {
    description: `an optimistic write to its change on the replica's own stream, ${SIZES.O1_WRITES} merges, up to ${SIZES.O1_WINDOW} waiting for the server`,
    rxkv: median(o1.map((r) => r.p99Ms)),
    baseline: null,
    baselineName: 'none',
    ratio: null,
    unit: 'ms (p99)',
    target: '< 1',
    extra: { p50Ms: median(o1.map((r) => r.p50Ms)) },
  });
  const o2 = await repeat('O2', (rep) =>
    both(
      rep,
      () => child('rxkv-optimistic', 'O2', { dir: freshDir(), pending: true }),
      () => child('rxkv-optimistic', 'O2', { dir: freshDir(), pending: false }),
    ),
  );
  record('O2', {
    description: `${SIZES.O2_CHANGES} server merges into 100 records of a replica with a pending optimistic write on each (every change rebased): CPU per change, server and replica in one process`,
    rxkv: median(o2.map(([r]) => r.cpuMicrosPerChange)),
    baseline: median(o2.map(([, b]) => b.cpuMicrosPerChange)),
    baselineName: 'the same, no pending write',
    ratio: median(o2.map(([r, b]) => r.cpuMicrosPerChange / b.cpuMicrosPerChange)),
    unit: 'µs',
    target: '<= 1.5',
  });
}

// ---- O3 and O4: a persisted replica in a fileStore (issue 16; the targets are ours) ----
{
  const o3 = await repeat('O3', (rep) =>
    both(
      rep,
      () => child('rxkv-persist', 'O3', { dir: freshDir() }),
      () => child('rxkv-persist', 'O3', { dir: freshDir(), baseline: true }),
    ),
  );
  record('O3', {
    description: `a persisted replica of ${SIZES.O3_RECORDS} records reopened offline (fileStore): from connect to the first state$`,
    rxkv: median(o3.map(([r]) => r.ms)),
    baseline: median(o3.map(([, b]) => b.ms)),
    baselineName: 'reading and parsing its file',
    ratio: median(o3.map(([r, b]) => r.ms / b.ms)),
    unit: 'ms',
    target: '<= 3',
  });
  const o4 = await repeat('O4', (rep) =>
    both(
      rep,
      () => child('rxkv-persist', 'O4', { dir: freshDir() }),
      () => child('rxkv-persist', 'O4', { dir: freshDir(), baseline: true }),
    ),
  );
  record('O4', {
    description: `${SIZES.O4_WRITES} optimistic merges made offline, ${SIZES.O4_WINDOW} at a time, into a fileStore (fdatasync per save): from the call to the save that holds it`,
    rxkv: median(o4.map(([r]) => r.p99Ms)),
    baseline: median(o4.map(([, b]) => b.p99Ms)),
    baselineName: 'the same lines appended by a plain group commit, fdatasync per batch',
    ratio: median(o4.map(([r, b]) => r.p99Ms / b.p99Ms)),
    unit: 'ms (p99)',
    target: '<= 1.5',
    extra: { p50Ms: { rxkv: median(o4.map(([r]) => r.p50Ms)), baseline: median(o4.map(([, b]) => b.p50Ms)) }, writesPerSec: { rxkv: median(o4.map(([r]) => r.writesPerSec)), baseline: median(o4.map(([, b]) => b.writesPerSec)) } },
  });
}

rmSync(root, { recursive: true, force: true });

// ---- C1, C2, C3: a cluster of three nodes on three NATS servers (JetStream, R3) ----
{
  // C1: against W1p of one node, measured above in this run.
  const c1 = await repeat('C1', () => child('rxkv-cluster', 'C1'));
  record('C1', {
    description: `${SIZES.C1_OPS} durable merges through a cluster of 3 nodes (each writing a third, ${Math.round(SIZES.W1_WINDOW / 3)} in flight) on 3 NATS servers, R3`,
    rxkv: median(c1.map((r) => r.opsPerSec)),
    baseline: workloads.W1p.rxkv,
    baselineName: 'W1p: one node',
    ratio: median(c1.map((r) => r.opsPerSec)) / workloads.W1p.rxkv,
    unit: 'ops/s',
    target: '>= 0.3',
    extra: { nodeCpuMicrosPerOp: median(c1.map((r) => r.nodeCpuMicrosPerOp)) },
  });
  const c2 = await repeat('C2', () => child('rxkv-cluster', 'C2'));
  record('C2', {
    description: `replication lag: a merge's acknowledgement on one node to its change on another, 1 merge / ${SIZES.C2_INTERVAL_MS} ms`,
    rxkv: median(c2.map((r) => r.p99Ms)),
    baseline: null,
    baselineName: 'none',
    ratio: null,
    unit: 'ms (p99)',
    target: '< 20',
    extra: { p50Ms: median(c2.map((r) => r.p50Ms)), samples: c2[0].samples },
  });
  const c3 = await repeat('C3', () => child('rxkv-cluster', 'C3'));
  record('C3', {
    description: `a node's restart after ${SIZES.C3_MISSED} merges it missed (${c3[0].messages} messages), until it has applied them`,
    rxkv: median(c3.map((r) => r.seconds)),
    baseline: null,
    baselineName: 'none',
    ratio: null,
    unit: 's',
    target: '<= 10',
    extra: { messages: c3[0].messages },
  });
}

// ---- report ----
const format = (value, unit) => {
  if (value === null || value === undefined) return '-';
  if (unit === 'bytes') return `${(value / 1048576).toFixed(1)} MiB`;
  if (unit === 'KiB') return `${value.toFixed(1)} KiB`;
  if (unit === 'B/change') return `${value.toFixed(1)} B/change`;
  if (unit === 'µs') return `${value.toFixed(2)} µs`;
  if (unit.startsWith('ms') || unit === 's') return `${value.toFixed(3)} ${unit}`;
  if (unit === 'x growth') return `${value.toFixed(2)}x`;
  return `${Math.round(value).toLocaleString('en-US')} ${unit}`;
};
const lines = [];
lines.push(`rxkv benchmark: ${REPS} repetitions, medians; node ${process.version}, ${cpus().length} cpus`);
lines.push('');
lines.push('| id | workload | rxkv | baseline | ratio | target | met |');
lines.push('|---|---|---|---|---|---|---|');
const ORDER = ['W1p', 'W1s', 'W1e', 'W2', 'W3', 'W4', 'W5', 'M1', 'W8', 'W9', 'W10', 'W6', 'W7', 'W7d', 'W7f', 'W7p', 'W7c', 'W7z', 'W7i', 'W7b', 'W7r', 'W11', 'W11l', 'W12', 'O1', 'O2', 'O3', 'O4', 'C1', 'C2', 'C3'];
const ordered = ORDER.map((id) => [id, workloads[id]]);
for (const [id, w] of ordered) {
  // What a row shows beside its figure: W7r's time, W11's accept rate, the p50 of a latency.
  const beside = (side) => {
    if (id === 'W7r') return ` in ${Math.round(w.ms[side])} ms`;
    if (id === 'W11') return `; ${format(w.connectionsPerSec[side], 'connections/s')}`;
    if (id === 'W7z') return `; drained ${format(w.drainedOpsPerSec[side], 'ops/s')}`;
    if (id === 'W11l' || id === 'W12' || id === 'O4') return `; ${format(w.p50Ms[side], 'ms (p50)')}`;
    return '';
  };
  const baseline = w.baseline === null ? w.baselineName ?? '-' : `${format(w.baseline, w.unit)}${beside('baseline')} (${w.baselineName})`;
  const ratio = w.ratio === null ? '-' : w.ratio.toFixed(2);
  const figure = id === 'W6' || id === 'C2' || id === 'O1' ? `${format(w.rxkv, w.unit)}; ${format(w.p50Ms, 'ms (p50)')}` : `${format(w.rxkv, w.unit)}${beside('rxkv')}`;
  lines.push(`| ${id} | ${w.description ?? w.note} | ${figure} | ${baseline} | ${ratio} | ${w.target} | ${w.met === null ? '-' : w.met ? 'yes' : 'no'} |`);
}
console.log(lines.join('\n'));

const results = {
  machine: { cpus: cpus().length, node: process.version },
  sizes: SIZES,
  reps: REPS,
  seconds: (performance.now() - started) / 1000,
  workloads: Object.fromEntries(
    ordered.map(([id, { rxkv, baseline, ratio, unit, target, met, ...rest }]) => [id, { rxkv, baseline, ratio, unit, target, met, ...rest }]),
  ),
};
writeFileSync(output, JSON.stringify(results, null, 2) + '\n');
progress(`done in ${results.seconds.toFixed(0)} s; wrote ${output}`);
