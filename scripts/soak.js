// `npm run soak`: kill -9 cycles (SOAK_CYCLES, 200 by default) against one database directory.
// Prints each cycle, then: cycles, acknowledged, in flight, lost, torn. Exits non-zero on a loss.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCycles } from '../build/spec/crash/cycles.js';

const cycles = Number(process.env.SOAK_CYCLES || 200);
const seed = Number(process.env.SOAK_SEED || Date.now());
const dir = mkdtempSync(join(tmpdir(), 'rxkv-soak-'));
console.error(`soak: ${cycles} kill -9 cycles in ${dir}, seed ${seed}`);
const totals = await runCycles(dir, cycles, seed, (cycle, t) => {
  if (cycle % 10 === 0 || cycle === cycles) {
    console.error(`cycle ${cycle}: acknowledged ${t.acknowledged}, in flight ${t.inFlight}, lost ${t.lost}, torn ${t.torn}, phantom ${t.phantom}, memory/disk mismatches ${t.mismatched}`);
  }
});
rmSync(dir, { recursive: true, force: true });
console.log(
  `cycles ${totals.cycles}, acknowledged ${totals.acknowledged}, in flight ${totals.inFlight}, rejected ${totals.rejected}, lost ${totals.lost}, torn ${totals.torn}, phantom ${totals.phantom}, mismatched ${totals.mismatched}`,
);
process.exit(totals.lost + totals.torn + totals.phantom + totals.mismatched === 0 ? 0 : 1);
