import { runCycles } from './crash/cycles.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

describe('Crash safety', () => {
  afterEach(removeTempDirs);

  it('should lose no acknowledged write and tear no transaction over 20 kill -9 cycles, memory matching disk', async () => {
    const seed = Date.now();
    const totals = await runCycles(tempDir('rxkv-crash'), 20, seed);
    expect(totals).withContext(`seed ${seed}`).toEqual(jasmine.objectContaining({ cycles: 20, lost: 0, phantom: 0, torn: 0, mismatched: 0 }));
    expect(totals.acknowledged).toBeGreaterThan(1000);
  }, 240_000);
});
