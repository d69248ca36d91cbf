import { open } from 'rxkv';
import { removeTempDirs, tempDir } from './helpers/temp.js';

describe('db.history', () => {
  afterEach(removeTempDirs);

  it('should be random at creation and kept across reopening, whatever was written meanwhile', async () => {
    const dir = tempDir();
    const db = await open(dir);
    const history = db.history;
    expect(history).toMatch(/^[0-9a-f]{32}$/);
    await db.table('t').put('k', { n: 1 });
    await db.close();
    const again = await open(dir);
    expect(again.history).toBe(history);
    await again.close();
    const other = await open(tempDir());
    expect(other.history).not.toBe(history);
    await other.close();
  });

  it("should start again each time a 'memory' database opens: nothing of the last one is kept", async () => {
    const first = await open(tempDir(), { durability: 'memory' });
    const second = await open(tempDir(), { durability: 'memory' });
    expect(first.history).not.toBe(second.history);
    await first.close();
    await second.close();
  });
});
