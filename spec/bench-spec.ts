import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const run = promisify(execFile);
const BENCH = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

/** Tiny sizes: this spec keeps the benchmark from rotting; it asserts no timings. */
const TINY = {
  BENCH_REPS: '1',
  W1_OPS: '300',
  W1_KEYS: '50',
  W1_WINDOW: '100',
  W1_SEQ_OPS: '20',
  W2_KEYS: '200',
  W2_GETS: '2000',
  W3_KEYS: '50',
  W3_MERGES: '300',
  W4_SMALL: '50',
  W4_LARGE: '500',
  W4_MERGES: '100',
  W5_ROWS: '500',
  SYNC_CLIENTS: '12',
  W6_MERGES: '30',
  W6_INTERVAL_MS: '2',
  W6_KEYS: '20',
  W7_OPS: '300',
  W7R_RECORDS: '200',
  W7R_CHANGES: '5',
  W11_CLIENTS: '50',
  W11_PROCS: '2',
  W11_MERGES: '30',
  W11_INTERVAL_MS: '2',
  W12_CLIENTS: '50',
  W12_PROCS: '2',
  W12_MERGES: '30',
  O1_WRITES: '200',
  O2_CHANGES: '300',
  O3_RECORDS: '200',
  O4_WRITES: '100',
  O4_WINDOW: '10',
  C1_OPS: '600',
  C2_MERGES: '20',
  C2_INTERVAL_MS: '2',
  C3_MISSED: '500',
};

describe('npm run bench', () => {
  afterEach(removeTempDirs);

  it('should measure every workload beside its baseline and write results.json in the documented schema', async () => {
    const results = join(tempDir('rxkv-bench-spec'), 'results.json');
    const { stdout, stderr } = await run(process.execPath, [BENCH], { env: { ...process.env, ...TINY, BENCH_RESULTS: results } });
    expect(stderr).toContain('[bench] W1p: repetition 1 of 1');
    const json = JSON.parse(readFileSync(results, 'utf8'));
    expect(json.machine).toEqual({ cpus: jasmine.any(Number), node: process.version });
    expect(Object.keys(json.workloads)).toEqual(['W1p', 'W1s', 'W1e', 'W2', 'W3', 'W4', 'W5', 'M1', 'W8', 'W9', 'W10', 'W6', 'W7', 'W7d', 'W7f', 'W7p', 'W7c', 'W7z', 'W7i', 'W7b', 'W7r', 'W11', 'W11l', 'W12', 'O1', 'O2', 'O3', 'O4', 'C1', 'C2', 'C3']);
    for (const id of ['W1p', 'W1s', 'W2', 'W3', 'W4', 'W5', 'M1', 'W8', 'W9', 'W10', 'W7d', 'W7f', 'W7i', 'W7b', 'W7r', 'O2', 'O3', 'C1']) {
      const w = json.workloads[id];
      expect(w.rxkv).withContext(id).toBeGreaterThan(0);
      expect(w.baseline).withContext(id).toBeGreaterThan(0);
      expect(w.ratio).withContext(id).toBeCloseTo(w.ratio, 6);
      const [op, bound] = w.target.split(' ');
      expect(w.met).withContext(id).toBe(op === '>=' ? w.ratio >= Number(bound) : w.ratio <= Number(bound));
      expect(stdout).toContain(`| ${id} |`);
    }
    expect(json.workloads.W1e.rxkv).toBeGreaterThan(0);
    expect(json.workloads.W1e.met).toBe(json.workloads.W1e.rxkv <= 10);
    expect(json.workloads.W3.deliveries).toBe(300 + 10 * 300);

    // W6 and W7: the sync server, its 12 replicas (10 of them whole-table) in a child process.
    const w6 = json.workloads.W6;
    expect(w6.rxkv).toBeGreaterThan(0);
    expect(w6.p50Ms).toBeGreaterThan(0);
    expect(w6.p50Ms).toBeLessThanOrEqual(w6.rxkv);
    expect(w6.met).toBe(w6.rxkv < 5);
    expect(w6.deliveries).toBeGreaterThanOrEqual(10 * 30);
    expect(w6.deliveries).toBe(w6.expectedDeliveries);
    expect(w6.samples).toBe(w6.deliveries);
    const w7 = json.workloads.W7;
    expect(w7.rxkv).toBeGreaterThan(0);
    expect(w7.baseline).toBeGreaterThan(0);
    expect(w7.ratio).toBeGreaterThan(0);
    expect(w7.met).toBe(w7.ratio >= 0.8);
    expect(w7.deliveries).toBeGreaterThanOrEqual(10 * 300);
    expect(w7.deliveries).toBe(w7.expectedDeliveries);
    for (const id of ['W6', 'W7']) expect(stdout).toContain(`| ${id} |`);
    // W7p: the same server with replicas that only parse, every change received, no target of its own.
    const w7p = json.workloads.W7p;
    expect(w7p.rxkv).toBeGreaterThan(0);
    expect(w7p.ratio).toBeCloseTo(w7p.rxkv / w7p.baseline, 0);
    expect(w7p.ratioToPlain).toBeGreaterThan(0);
    expect(w7p.clientCpuMicrosPerDelivery).toBeGreaterThan(0);
    expect(w7p.met).toBeNull();
    expect(w7p.deliveries).toBe(w7p.expectedDeliveries);
    expect(stdout).toContain('| W7p |');
    // W7c: the replicas' CPU per change received, beside plain ws's.
    expect(json.workloads.W7c.rxkv).toBe(w7.clientCpuMicrosPerDelivery);
    expect(json.workloads.W7c.baseline).toBeGreaterThan(0);
    expect(json.workloads.W7c.met).toBe(json.workloads.W7c.rxkv <= 5);
    // W7z: W7 compressed sends fewer bytes per change delivered than W7 without (the same changes).
    const w7z = json.workloads.W7z;
    expect(w7z.rxkv).toBeGreaterThan(0);
    expect(w7z.ratio).toBeLessThan(1);
    expect(w7z.drainedOpsPerSec.rxkv).toBeGreaterThan(0);
    expect(w7z.met).toBeNull();
    expect(stdout).toContain('| W7z |');
    // W7i: the inspector page in Chromium showed the stream's changes while W7 ran.
    for (const seq of json.workloads.W7i.lastSeqShown) expect(seq).toBeGreaterThan(0);
    // C2 and C3: the cluster's lag and a node's restart.
    expect(json.workloads.C2.samples).toBe(20);
    expect(json.workloads.C2.p50Ms).toBeLessThanOrEqual(json.workloads.C2.rxkv);
    expect(json.workloads.C3.rxkv).toBeGreaterThan(0);
    for (const id of ['C1', 'C2', 'C3']) expect(stdout).toContain(`| ${id} |`);
    // W7r: the bytes and time of a resume after a restart, against the same replicas' snapshots.
    expect(json.workloads.W7r.ms.rxkv).toBeGreaterThan(0);
    expect(json.workloads.W7r.ms.baseline).toBeGreaterThan(0);
    // W11: 50 replicas over 2 processes, a key each, 30 merges; rxkv and plain ws side by side.
    const w11 = json.workloads.W11;
    expect(Number.isFinite(w11.rxkv)).toBe(true);
    expect(Number.isFinite(w11.baseline)).toBe(true);
    expect(w11.met).toBe(w11.rxkv <= 20);
    for (const side of ['rxkv', 'baseline']) {
      expect(w11.connectionsPerSec[side]).withContext(side).toBeGreaterThan(0);
      expect(Number.isFinite(w11.rssPerConnectionKiB[side])).withContext(side).toBe(true);
      expect(w11.serverCpuMicrosPerMergeSlot[side]).withContext(side).toBeGreaterThan(0);
    }
    const w11l = json.workloads.W11l;
    expect(w11l.rxkv).toBeGreaterThan(0);
    expect(w11l.baseline).toBeGreaterThan(0);
    expect(w11l.p50Ms.rxkv).toBeLessThanOrEqual(w11l.rxkv);
    expect(w11l.met).toBe(w11l.rxkv < 10);
    // A merge that changes nothing publishes nothing: rxkv delivers what was published, plain ws every send.
    expect(w11l.deliveries.rxkv).toBeGreaterThan(0);
    expect(w11l.deliveries.rxkv).toBe(w11l.expectedDeliveries);
    expect(w11l.samples).toBe(w11l.deliveries.rxkv);
    expect(w11l.deliveries.baseline).toBe(30);
    // W12: 50 subscribers of one key, 30 merges to it (the first writes the 0 its record holds: no change).
    // O1: every optimistic write was shown, within the call.
    expect(json.workloads.O1.rxkv).toBeGreaterThan(0);
    expect(json.workloads.O1.p50Ms).toBeLessThanOrEqual(json.workloads.O1.rxkv);
    expect(json.workloads.O1.met).toBe(json.workloads.O1.rxkv < 1);
    // O4: every offline write was stored, and every line of the baseline's.
    const o4 = json.workloads.O4;
    for (const side of ['rxkv', 'baseline'] as const) {
      expect(o4[side]).withContext(side).toBeGreaterThan(0);
      expect(o4.p50Ms[side]).withContext(side).toBeLessThanOrEqual(o4[side]);
      expect(o4.writesPerSec[side]).withContext(side).toBeGreaterThan(0);
    }
    expect(o4.met).toBe(o4.ratio <= 1.5);
    const w12 = json.workloads.W12;
    expect(w12.rxkv).toBeGreaterThan(0);
    expect(w12.baseline).toBeGreaterThan(0);
    expect(w12.p50Ms.rxkv).toBeLessThanOrEqual(w12.rxkv);
    expect(w12.met).toBe(w12.rxkv < 20);
    expect(w12.expectedDeliveries).toBe(50 * 29);
    expect(w12.deliveries).toEqual({ rxkv: 50 * 29, baseline: 50 * 30 });
    for (const side of ['rxkv', 'baseline']) {
      expect(w12.serverCpuMicrosPerDelivery[side]).withContext(side).toBeGreaterThan(0);
      expect(w12.mergesPerSec[side]).withContext(side).toBeGreaterThan(0);
    }
    for (const id of ['W11', 'W11l', 'W12']) expect(stdout).toContain(`| ${id} |`);
  }, 120_000);
});
