// `npm run soak:cluster`: cluster trials one after another (SOAK_TRIALS, 10 by default), each with
// three rxkv nodes in processes of their own on three NATS servers, the stream's leader killed
// with SIGKILL and then a node (see spec/cluster/trial.ts). Prints each trial; exits non-zero on a problem.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrial } from '../build/spec/cluster/trial.js';

const trials = Number(process.env.SOAK_TRIALS || 10);
const ops = Number(process.env.SOAK_OPS || 3000);
const seed = Number(process.env.SOAK_SEED || Date.now() % 100_000);
let failed = 0;
for (let i = 0; i < trials; i++) {
  const root = mkdtempSync(join(tmpdir(), 'rxkv-soak-cluster-'));
  const report = await runTrial({ root, seed: seed + i, ops, window: 32, killServerAt: ops / 2, killNodeAt: Math.round(ops * 1.6) });
  rmSync(root, { recursive: true, force: true });
  console.log(`trial ${i + 1} (seed ${seed + i}): ${report.acknowledged} acknowledged, ${report.unknown} unknown, failed ${JSON.stringify(report.failed)}, leader ${report.killedServer} killed, problems: ${report.problems.length === 0 ? 'none' : report.problems.join('; ')}`);
  if (report.problems.length > 0) failed++;
}
console.log(`${trials} trials, ${failed} with problems`);
process.exit(failed === 0 ? 0 : 1);
