// rxkv nodes of a cluster on three local NATS servers (JetStream, R3): each node in a process of
// its own (bench/cluster-node.js), as on machines of their own, the servers on the same 2 cores.
// BENCH_PROFILE=DIR writes each node's CPU profile (--cpu-prof) there.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'rxkv';
import { startNatsCluster } from '../../build/spec/helpers/nats-cluster.js';
import { SIZES, operations, percentile, runWindowed } from '../workload.js';

const NODE = fileURLToPath(new URL('../cluster-node.js', import.meta.url));

/** Starts a node process; resolves once it is open, with what it prints and a `go`. */
async function node(args) {
  const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), NODE, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  let rest = '';
  let ready;
  const isReady = new Promise((resolve) => (ready = resolve));
  child.stdout.setEncoding('utf8').on('data', (text) => {
    const parts = (rest + text).split('\n');
    rest = parts.pop();
    for (const line of parts) (line === 'ready' ? ready() : lines.push(line));
  });
  const exited = new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node exited with ${code}`)))));
  await isReady;
  return {
    lines,
    go: () => child.stdin.write('go\n'),
    done: () => new Promise((resolve) => {
      const check = setInterval(() => {
        if (lines.some((line) => line.startsWith('done '))) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    }),
    stop: () => (child.stdin.end(), exited),
  };
}

async function withCluster(run) {
  const nats = await startNatsCluster(3);
  const root = mkdtempSync(join(tmpdir(), 'rxkv-bench-cluster-'));
  try {
    return await run(nats.urls, root);
  } finally {
    await nats.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** C1: durable merges through the cluster, three nodes writing at once (a third each). */
export function C1() {
  return withCluster(async (servers, root) => {
    const each = Math.round(SIZES.C1_OPS / 3);
    const window = Math.round(SIZES.W1_WINDOW / 3);
    const nodes = await Promise.all([1, 2, 3].map((i) => node({ dir: join(root, `n${i}`), servers, stream: 'c1', mode: 'write', ops: each, window, seed: i })));
    const start = performance.now();
    for (const one of nodes) one.go();
    await Promise.all(nodes.map((one) => one.done()));
    const seconds = (performance.now() - start) / 1000;
    await Promise.all(nodes.map((one) => one.stop()));
    // Each node applies every write: its CPU per write of the whole cluster.
    const cpu = nodes.map((one) => Number(one.lines.find((line) => line.startsWith('done ')).split(' ')[2]));
    return { opsPerSec: (3 * each) / seconds, nodeCpuMicrosPerOp: cpu.reduce((sum, micros) => sum + micros, 0) / 3 / (3 * each) };
  });
}

/** C2: from a merge's acknowledgement on one node to its change on another (one clock: timeOrigin + now). */
export function C2() {
  return withCluster(async (servers, root) => {
    const reader = await node({ dir: join(root, 'reader'), servers, stream: 'c2', mode: 'read' });
    const writer = await node({ dir: join(root, 'writer'), servers, stream: 'c2', mode: 'paced', ops: SIZES.C2_MERGES, interval: SIZES.C2_INTERVAL_MS });
    reader.go();
    writer.go();
    await writer.done();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await writer.stop();
    await reader.stop();
    const acked = new Map(writer.lines.filter((line) => line.startsWith('ack ')).map((line) => line.split(' ').slice(1)).map(([key, t]) => [key, Number(t)]));
    // Negative when the other node applied it before the writer heard back: counted as 0.
    const lags = reader.lines.filter((line) => line.startsWith('recv ')).map((line) => line.split(' ')).map(([, key, t]) => Math.max(0, Number(t) - acked.get(key)));
    if (lags.length !== SIZES.C2_MERGES) throw new Error(`the reader received ${lags.length} of ${SIZES.C2_MERGES} changes`);
    lags.sort((a, b) => a - b);
    return { p50Ms: percentile(lags, 50), p99Ms: percentile(lags, 99), samples: lags.length };
  });
}

/** C3: a node's restart (open until it has applied everything) after C3_MISSED merges it missed. */
export function C3() {
  return withCluster(async (servers, root) => {
    const cluster = { servers, stream: 'c3', timeout: 60_000 };
    const behind = await open(join(root, 'behind'), { cluster });
    await behind.close();
    const writer = await open(join(root, 'writer'), { cluster });
    const { keys, patches } = operations(SIZES.C3_MISSED, SIZES.W1_KEYS, 3);
    const table = writer.table('bench');
    await runWindowed(SIZES.C3_MISSED, SIZES.W1_WINDOW, (i) => table.merge(keys[i], patches[i]));
    const messages = writer.seq; // every merge changes its record: one seq each, plus one per message for the position
    await writer.close();
    const start = performance.now();
    const reopened = await open(join(root, 'behind'), { cluster });
    const seconds = (performance.now() - start) / 1000;
    const caughtUp = reopened.seq === messages;
    await reopened.close();
    if (!caughtUp) throw new Error('the restarted node did not catch up');
    return { seconds, missed: SIZES.C3_MISSED, messages: messages - SIZES.C3_MISSED };
  });
}
