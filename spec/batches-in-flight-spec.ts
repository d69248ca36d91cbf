import type { Change } from 'rxkv';
import { openTemp, DURABILITIES } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Writes to one record while earlier batches are still being written', () => {
  afterEach(removeTempDirs);

  for (const durability of DURABILITIES) {
    it(`should read what the latest batch wrote, deletes included (${durability})`, async () => {
      const { db } = await openTemp(durability);
      const table = db.table('t');
      await table.put('k', { n: 0 });
      const changes: Change[] = [];
      db.changes().subscribe((change) => changes.push(change));
      // Batch B deletes and re-creates k; batch C, prepared while B is written, deletes it;
      // a merge applied after B is published and while C is written must see k absent.
      const writes = [table.delete('k'), table.put('k', { n: 2 })];
      await tick();
      writes.push(table.delete('k'));
      await tick();
      writes.push(table.merge('k', { m: 1 }));
      await Promise.all(writes);
      expect(table.get('k')).toEqual({ m: 1 });
      expect(changes.map(({ op, value }) => `${op} ${JSON.stringify(value)}`)).toEqual(['delete undefined', 'new {"n":2}', 'delete undefined', 'new {"m":1}']);
      expect([...table.keys()]).toEqual(['k']);
      await db.close();
    });
  }

  it('should keep every change continuous (previous = the value before) over seeded overlapping writes', async () => {
    const { db } = await openTemp('sync');
    const last = new Map<string, unknown>();
    const problems: string[] = [];
    db.changes().subscribe((change) => {
      const id = `${change.table}/${change.key}`;
      if (JSON.stringify(last.get(id)) !== JSON.stringify(change.previous)) problems.push(`${change.seq} ${change.op} ${id}`);
      if (change.value === undefined) last.delete(id);
      else last.set(id, change.value);
    });
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 1500; i++) {
      const table = random() < 0.5 ? 't' : 'u';
      const key = ['a', 'b', 'c'][Math.floor(random() * 3)]!;
      const roll = random();
      const write = (target: { delete(key: string): unknown; put(key: string, value: object): unknown; merge(key: string, patch: object): unknown }): unknown =>
        roll < 0.2 ? target.delete(key) : roll < 0.4 ? target.put(key, { n: i }) : target.merge(key, { n: i });
      if (random() < 0.5) writes.push(db.transaction((tx) => void write(tx.table(table) as never)));
      else writes.push(write(db.table(table)) as Promise<unknown>);
      if (random() < 0.15) await tick();
    }
    await Promise.all(writes);
    expect(problems).toEqual([]);
    for (const table of ['t', 'u']) {
      expect([...db.table(table).keys()]).toEqual(['a', 'b', 'c'].filter((key) => db.table(table).has(key)));
      expect([...db.table(table).entries()]).toEqual(['a', 'b', 'c'].filter((key) => last.has(`${table}/${key}`)).map((key) => [key, last.get(`${table}/${key}`)]) as never);
    }
    await db.close();
  });
});
