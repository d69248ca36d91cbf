import { open, RxkvError, type Database } from 'rxkv';
import { openTemp, thrownCode } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';
import { Random } from './helpers/random.js';

interface Person {
  profile: { city?: string; age: number };
  tags: string[];
}

describe('Secondary indexes', () => {
  let db: Database;
  let dir: string;

  beforeEach(async () => {
    ({ db, dir } = await openTemp('sync'));
  });

  afterEach(async () => {
    await db.close();
    removeTempDirs();
  });

  const people = () => db.table<Person>('people', { indexes: { byCity: 'profile.city', byTag: (p) => p.tags, byAge: (p) => p.profile.age } });

  async function fill(): Promise<void> {
    const t = people();
    await Promise.all([
      t.put('ada', { profile: { city: 'Oslo', age: 36 }, tags: ['math', 'code'] }),
      t.put('bob', { profile: { city: 'Rome', age: 60 }, tags: ['code'] }),
      t.put('cy', { profile: { city: 'Oslo', age: 7 }, tags: [] }),
      t.put('dee', { profile: { age: 50 }, tags: ['math'] }),
    ]);
  }

  it('should look records up by a JSON path value, in key order', async () => {
    await fill();
    expect(people().index('byCity').get('Oslo').map(([key]) => key)).toEqual(['ada', 'cy']);
    expect(people().index('byCity').get('Paris')).toEqual([]);
    expect(people().index('byCity').get('Rome')).toEqual([['bob', { profile: { city: 'Rome', age: 60 }, tags: ['code'] }]]);
  });

  it('should index a record under every value a function returns', async () => {
    await fill();
    expect(people().index('byTag').get('math').map(([key]) => key)).toEqual(['ada', 'dee']);
    expect(people().index('byTag').get('code').map(([key]) => key)).toEqual(['ada', 'bob']);
    expect(people().index('byTag').keys()).toEqual(['code', 'math']);
  });

  it('should leave out records without an index value', async () => {
    await fill();
    expect(people().index('byCity').keys()).toEqual(['Oslo', 'Rome']);
  });

  it('should follow every write: merge, put, delete, clear', async () => {
    await fill();
    const t = people();
    await t.merge('cy', { profile: { city: 'Rome' } });
    await t.delete('bob');
    expect(t.index('byCity').get('Rome').map(([key]) => key)).toEqual(['cy']);
    expect(t.index('byCity').get('Oslo').map(([key]) => key)).toEqual(['ada']);
    await t.clear();
    expect(t.index('byCity').keys()).toEqual([]);
  });

  it('should select ranges of values in index order (numbers by value)', async () => {
    await fill();
    const byAge = people().index('byAge');
    expect(byAge.keys()).toEqual([7, 36, 50, 60]);
    expect([...byAge.range({ gte: 36, lt: 60 })].map(([key]) => key)).toEqual(['ada', 'dee']);
    expect([...byAge.range({ gt: 7, reverse: true, limit: 2 })].map(([key]) => key)).toEqual(['bob', 'dee']);
    expect([...people().index('byCity').range({ prefix: 'O' })].map(([key]) => key)).toEqual(['ada', 'cy']);
  });

  it('should be rebuilt from the records after reopening', async () => {
    await fill();
    await db.close();
    db = await open(dir);
    expect(people().index('byCity').get('Oslo').map(([key]) => key)).toEqual(['ada', 'cy']);
  });

  it('should agree with a full scan over random writes', async () => {
    const random = new Random(31);
    const t = people();
    for (let round = 0; round < 30; round++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        const key = `p${random.int(30)}`;
        if (random.chance(0.2)) writes.push(t.delete(key));
        else writes.push(t.put(key, { profile: { city: random.pick(['Oslo', 'Rome', 'Lima']), age: random.int(5) }, tags: [random.pick(['a', 'b']), random.pick(['b', 'c'])] }));
      }
      await Promise.all(writes);
      for (const city of ['Oslo', 'Rome', 'Lima']) {
        const scan = [...t.entries()].filter(([, p]) => p.profile.city === city).map(([key]) => key);
        expect(t.index('byCity').get(city).map(([key]) => key)).toEqual(scan);
      }
      for (const tag of ['a', 'b', 'c']) {
        const scan = [...t.entries()].filter(([, p]) => p.tags.includes(tag)).map(([key]) => key);
        expect(t.index('byTag').get(tag).map(([key]) => key)).toEqual(scan);
      }
    }
  });

  it('should report an index function that throws on db.errors$, leave that record out, and let the commit stand', async () => {
    const errors: RxkvError[] = [];
    db.errors$.subscribe((error) => errors.push(error));
    const t = db.table<{ n: number }>('t', {
      indexes: {
        fragile: (value) => {
          if (value.n < 0) throw new Error('negative');
          return value.n;
        },
      },
    });
    expect(await t.put('ok', { n: 1 })).toEqual({ n: 1 });
    expect(await t.put('bad', { n: -1 })).toEqual({ n: -1 });
    expect(t.get('bad')).toEqual({ n: -1 });
    expect(t.index('fragile').keys()).toEqual([1]);
    expect(errors.map((error) => error.code)).toEqual(['INDEX_FAILED']);
  });

  it('should report INDEX_FAILED once the commit is published, never halfway through it', async () => {
    const t = db.table<{ n: number }>('t', { indexes: { fragile: (value) => { if (value.n < 0) throw new Error('negative'); return value.n; } } });
    const seen: unknown[] = [];
    db.errors$.subscribe(() => seen.push([t.get('a'), t.get('b')]));
    await db.transaction((tx) => {
      tx.table('t').put('a', { n: -1 });
      tx.table('t').put('b', { n: 2 });
    });
    expect(seen).toEqual([[{ n: -1 }, { n: 2 }]]);
  });

  it('should leave out values that are not finite numbers', async () => {
    const t = db.table<{ a: number; b: number }>('t', { indexes: { ratio: (value) => value.a / value.b } });
    await Promise.all([t.put('x', { a: 0, b: 0 }), t.put('y', { a: 1, b: 0 }), t.put('z', { a: 1, b: 2 })]);
    expect(t.index('ratio').keys()).toEqual([0.5]);
  });

  it('should let a range started before a commit go on over the records as they were', async () => {
    await fill();
    const range = people().index('byAge').range();
    expect(range.next().value?.[0]).toBe('cy');
    await people().delete('ada');
    expect([...range].map(([key]) => key)).toEqual(['ada', 'dee', 'bob']);
    expect(thrownCode(() => people().index('byAge').range({ limit: -1 }))).toBe('INVALID_ARGUMENT');
  });

  it('should refuse an unknown index, a redefinition and bad values', () => {
    const t = people();
    expect(thrownCode(() => t.index('nope'))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => db.table('people', { indexes: { byCity: 'profile.town' } }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => db.table('people', { indexes: { bad: 42 as never } }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.index('byCity').get({} as never))).toBe('INVALID_ARGUMENT');
    expect(() => db.table('people', { indexes: { byCity: 'profile.city' } })).not.toThrow(); // same definition
  });
});
