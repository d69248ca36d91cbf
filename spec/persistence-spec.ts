import { open, type Database } from 'rxkv';
import { existsSync, readdirSync } from 'node:fs';
import { rejectedCode } from './helpers/db.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';
import { Random } from './helpers/random.js';

describe('Persistence', () => {
  let dir: string;
  let db: Database | undefined;

  beforeEach(() => {
    dir = tempDir();
  });

  afterEach(async () => {
    await db?.close();
    db = undefined;
    removeTempDirs();
  });

  it('should load every table back, in key order, with its metadata and the seq', async () => {
    db = await open(dir);
    const random = new Random(5);
    const expected = new Map<string, Map<string, unknown>>();
    for (let i = 0; i < 500; i++) {
      const table = `table${random.int(4)}`;
      const key = `key${random.int(200)}`;
      const value = { i, nested: { r: random.int(10) } };
      if (!expected.has(table)) expected.set(table, new Map());
      expected.get(table)!.set(key, value);
      await db.table(table).put(key, value);
    }
    const metas = new Map([...expected].map(([table, records]) => [table, [...records.keys()].map((key) => db!.table(table).meta(key))]));
    const seq = db.seq;
    await db.close();

    db = await open(dir);
    expect(db.seq).toBe(seq);
    expect(db.tableNames()).toEqual([...expected.keys()].sort());
    for (const [table, records] of expected) {
      const t = db.table(table);
      expect([...t.keys()]).toEqual([...records.keys()].sort());
      for (const [key, value] of records) expect(t.get(key)).toEqual(value as never);
      expect([...records.keys()].map((key) => t.meta(key))).toEqual(metas.get(table)!);
    }
  });

  it('should hand out frozen records after loading', async () => {
    db = await open(dir);
    await db.table('t').put('k', { a: { b: [1] } });
    await db.close();
    db = await open(dir);
    const value = db.table('t').get('k') as { a: { b: number[] } };
    expect(Object.isFrozen(value) && Object.isFrozen(value.a) && Object.isFrozen(value.a.b)).toBeTrue();
  });

  it('should keep JavaScript key order for keys RocksDB orders differently (astral characters)', async () => {
    db = await open(dir);
    const keys = ['\uffff', '😀', 'a', '\ue000'];
    for (const key of keys) await db.table('t').put(key, key);
    await db.close();
    db = await open(dir);
    expect([...db.table('t').keys()]).toEqual([...keys].sort());
  });

  it('should persist deletes and clears', async () => {
    db = await open(dir);
    const t = db.table('t');
    await Promise.all(['a', 'b', 'c'].map((key) => t.put(key, 1)));
    await t.delete('b');
    await db.table('u').put('x', 1);
    await db.table('u').clear();
    await db.close();
    db = await open(dir);
    expect([...db.table('t').keys()]).toEqual(['a', 'c']);
    expect(db.table('u').size).toBe(0);
  });

  it("should persist with durability 'wal'", async () => {
    db = await open(dir, { durability: 'wal' });
    await db.table('t').put('k', 1);
    await db.close();
    db = await open(dir, { durability: 'wal' });
    expect(db.table('t').get('k')).toBe(1);
  });

  it("should persist nothing with durability 'memory'", async () => {
    db = await open(dir, { durability: 'memory' });
    await db.table('t').put('k', 1);
    await db.close();
    expect(readdirSync(dir)).toEqual([]);
    db = await open(dir, { durability: 'memory' });
    expect(db.table('t').has('k')).toBeFalse();
  });

  it('should refuse to open a directory that is already open, with DATABASE_LOCKED', async () => {
    db = await open(dir);
    expect(await rejectedCode(open(dir))).toBe('DATABASE_LOCKED');
  });

  it('should wait for writes already called before closing', async () => {
    db = await open(dir);
    const t = db.table('t');
    const writes = Array.from({ length: 100 }, (_, i) => t.put(`k${i}`, i));
    await db.close();
    await Promise.all(writes);
    db = await open(dir);
    expect(db.table('t').size).toBe(100);
  });

  it('should complete every stream on close', async () => {
    db = await open(dir);
    let completed = 0;
    db.changes().subscribe({ complete: () => completed++ });
    db.table('t').changes().subscribe({ complete: () => completed++ });
    db.table('t').state$.subscribe({ complete: () => completed++ });
    await db.close();
    expect(completed).toBe(3);
  });

  it('should create the directory when it does not exist', async () => {
    const nested = `${dir}/deeper/still`;
    db = await open(nested);
    await db.table('t').put('k', 1);
    expect(existsSync(nested)).toBeTrue();
  });
});
