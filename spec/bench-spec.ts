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
    expect(Object.keys(json.workloads)).toEqual(['W1p', 'W1s', 'W1e', 'W2', 'W3', 'W4', 'W5', 'M1', 'W8', 'W9', 'W10', 'W6', 'W7', 'W7f', 'W7i', 'W7b', 'W7r', 'C1', 'C2', 'C3']);
    for (const id of ['W1p', 'W1s', 'W2', 'W3', 'W4', 'W5', 'M1', 'W8', 'W9', 'W10', 'W7f', 'W7i', 'W7b', 'W7r', 'C1']) {
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
    expect(w7.met).toBe(w7.ratio >= 0.5);
    expect(w7.deliveries).toBeGreaterThanOrEqual(10 * 300);
    expect(w7.deliveries).toBe(w7.expectedDeliveries);
    for (const id of ['W6', 'W7']) expect(stdout).toContain(`| ${id} |`);
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
  }, 120_000);
});
