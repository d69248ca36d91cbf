import { open, RxkvError, type Database } from 'rxkv';
import { openTemp, rejectedCode, thrownCode } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';

describe('Bad input', () => {
  let db: Database;
  let dir: string;
  let events: number;

  beforeEach(async () => {
    ({ db, dir } = await openTemp('sync'));
    await db.table('t').put('existing', { a: 1 });
    events = 0;
    db.changes().subscribe(() => events++);
  });

  afterEach(async () => {
    await db.close();
    removeTempDirs();
  });

  /** Nothing was written: no seq used, no event, and nothing new on disk. */
  async function expectUntouched(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(events).toBe(0);
    const seq = db.seq;
    await db.close();
    db = await open(dir);
    expect(db.seq).toBe(seq);
    expect(db.tableNames()).toEqual(['t']);
    expect([...db.table('t').entries()]).toEqual([['existing', { a: 1 }]]);
  }

  it('should refuse invalid table names with INVALID_TABLE_NAME', async () => {
    for (const name of ['', 'a b', 'a/b', 'x'.repeat(129), 'é', '\u0000', 42, null, undefined]) {
      expect(thrownCode(() => db.table(name as string))).withContext(String(name)).toBe('INVALID_TABLE_NAME');
    }
    expect(db.table('A-z_0.9').name).toBe('A-z_0.9');
    expect(db.table('x'.repeat(128)).name.length).toBe(128);
    await expectUntouched();
  });

  it('should refuse invalid keys with INVALID_KEY', async () => {
    const t = db.table('t');
    const bad = ['', 'x'.repeat(1025), 'é'.repeat(513), '\ud800', 'a\udc00b', 42, null, undefined, {}, ['k']];
    for (const key of bad) {
      expect(thrownCode(() => t.put(key as string, 1))).withContext(String(key).slice(0, 10)).toBe('INVALID_KEY');
      expect(thrownCode(() => t.merge(key as string, {}))).toBe('INVALID_KEY');
      expect(thrownCode(() => t.delete(key as string))).toBe('INVALID_KEY');
    }
    await expectUntouched();
  });

  it('should accept keys up to 1 KiB of UTF-8, whatever their characters', async () => {
    const t = db.table('t');
    for (const key of ['x'.repeat(1024), 'é'.repeat(512), '😀', ' ', '\u0000', 'a/b\\c']) {
      await t.put(key, 1);
      expect(t.get(key)).toBe(1);
    }
  });

  it('should refuse values that are not plain JSON with INVALID_VALUE', async () => {
    const t = db.table('t');
    class Account {
      name = 'x';
    }
    const cyclic: Record<string, unknown> = {};
    cyclic['me'] = cyclic;
    const values: unknown[] = [
      () => 1,
      Symbol('s'),
      10n,
      NaN,
      Infinity,
      -Infinity,
      undefined,
      { a: undefined },
      new Date(),
      new Map([[1, 2]]),
      new Set(),
      new Account(),
      cyclic,
      { nested: { deep: [1, { when: new Date() }] } },
      [1, , 2],
    ];
    for (const value of values) {
      expect(thrownCode(() => t.put('k', value as never))).toBe('INVALID_VALUE');
      expect(thrownCode(() => t.merge('existing', { value } as never))).toBe('INVALID_VALUE');
      expect(await rejectedCode(db.transaction((tx) => tx.table('t').put('k', value as never)))).toBe('INVALID_VALUE');
    }
    await expectUntouched();
  }, 20000);

  it('should reject a transaction whose write is invalid, writing nothing of it', async () => {
    const code = await rejectedCode(
      db.transaction((tx) => {
        tx.table('t').put('fine', 1);
        tx.table('t').put('bad', new Date() as never);
      }),
    );
    expect(code).toBe('INVALID_VALUE');
    await expectUntouched();
  });

  it('should refuse over-size values with VALUE_TOO_LARGE, synchronously', async () => {
    await db.close();
    db = await open(dir, { maxValueBytes: 1000 });
    events = 0;
    db.changes().subscribe(() => events++);
    const t = db.table('t');
    expect(thrownCode(() => t.put('k', { text: 'x'.repeat(2000) }))).toBe('VALUE_TOO_LARGE');
    expect(thrownCode(() => t.merge('existing', { text: 'x'.repeat(2000) }))).toBe('VALUE_TOO_LARGE');
    await expectUntouched();
  });

  it('should reject a merge whose result would be over-size, writing nothing', async () => {
    await db.close();
    db = await open(dir, { maxValueBytes: 1000 });
    events = 0;
    db.changes().subscribe(() => events++);
    const t = db.table('t');
    await t.put('big', { a: 'x'.repeat(600) });
    events = 0;
    const seq = db.seq;
    expect(await rejectedCode(t.merge('big', { b: 'y'.repeat(600) }))).toBe('VALUE_TOO_LARGE');
    expect(t.get('big')).toEqual({ a: 'x'.repeat(600) });
    expect(db.seq).toBe(seq);
    // Multi-byte characters count as UTF-8 bytes.
    expect(await rejectedCode(t.merge('big', { b: 'é'.repeat(300) }))).toBe('VALUE_TOO_LARGE');
    expect(events).toBe(0);
  });

  it('should refuse bad arguments with INVALID_ARGUMENT', async () => {
    const t = db.table('t');
    expect(thrownCode(() => t.merge('k', {}, { ifVersion: -1 }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.merge('k', {}, { ifVersion: 1.5 }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.merge('k', {}, 'x' as never))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.increment('k', 'a', NaN))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.increment('k', 'a', '1' as never))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.increment('k', 3 as never))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.produce('k', 'recipe' as never))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => db.transaction('fn' as never))).toBe('INVALID_ARGUMENT');
    await expectUntouched();
  });

  it('should refuse bad open() arguments', async () => {
    await expectAsync(open('', {})).toBeRejectedWith(jasmine.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await expectAsync(open(dir, { durability: 'fast' as never })).toBeRejectedWith(jasmine.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await expectAsync(open(dir, { maxValueBytes: 0 })).toBeRejectedWith(jasmine.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('should refuse writes after close with DATABASE_CLOSED', async () => {
    const t = db.table('t');
    await db.close();
    expect(thrownCode(() => t.put('k', 1))).toBe('DATABASE_CLOSED');
    expect(thrownCode(() => t.merge('k', {}))).toBe('DATABASE_CLOSED');
    expect(thrownCode(() => t.clear())).toBe('DATABASE_CLOSED');
    expect(thrownCode(() => db.transaction(() => undefined))).toBe('DATABASE_CLOSED');
    db = await open(dir);
  });

  it('should store __proto__, constructor and prototype as plain data and never pollute a prototype', async () => {
    const t = db.table('t');
    const payload = JSON.parse('{"__proto__": {"isAdmin": true}, "constructor": {"prototype": {"isAdmin": true}}, "prototype": 1}');
    await t.put('k', payload);
    await t.merge('k', JSON.parse('{"__proto__": {"more": 1}}'));
    await t.put('__proto__', 1);
    await t.put('constructor', 2);
    const expected = { prototype: 1 } as Record<string, unknown>;
    for (const [member, value] of [
      ['__proto__', { isAdmin: true, more: 1 }],
      ['constructor', { prototype: { isAdmin: true } }],
    ] as const) {
      Object.defineProperty(expected, member, { value, enumerable: true, writable: true, configurable: true });
    }
    const check = (database: Database) => {
      const value = database.table('t').get('k') as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(JSON.parse(JSON.stringify(value))).toEqual(JSON.parse(JSON.stringify(expected)));
      expect((value as { isAdmin?: boolean }).isAdmin).toBeUndefined();
      expect(database.table('t').get('__proto__')).toBe(1);
      expect(database.table('t').get('constructor')).toBe(2);
      expect(({} as { isAdmin?: boolean }).isAdmin).toBeUndefined();
      expect((Object.prototype as { more?: number }).more).toBeUndefined();
    };
    check(db);
    await db.close();
    db = await open(dir);
    check(db);
  });

  it('should raise RxkvError instances with a stable code and a helpful message', () => {
    try {
      db.table('t').put('', 1);
      fail('expected a throw');
    } catch (error) {
      expect(error).toBeInstanceOf(RxkvError);
      expect(error).toBeInstanceOf(Error);
      expect((error as RxkvError).name).toBe('RxkvError');
      expect((error as RxkvError).code).toBe('INVALID_KEY');
      expect((error as RxkvError).message).toMatch(/non-empty/);
    }
  });
});
