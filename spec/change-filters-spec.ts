import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Change, Database } from 'rxkv';
import { openTemp } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';
import { Random } from './helpers/random.js';

describe('Change filters', () => {
  let db: Database;

  beforeEach(async () => {
    ({ db } = await openTemp('sync'));
  });

  afterEach(async () => {
    await db.close();
    removeTempDirs();
  });

  function collect(observable: { subscribe(next: (change: Change) => void): unknown }): string[] {
    const seen: string[] = [];
    observable.subscribe((change: Change) => seen.push(`${change.key}:${change.op}`));
    return seen;
  }

  it('should deliver { keys } the changes of those records only', async () => {
    const t = db.table('t');
    const seen = collect(t.changes({ keys: ['a', 'c', 'a'] }));
    await Promise.all(['a', 'b', 'c', 'd'].map((key) => t.put(key, 1)));
    expect(seen).toEqual(['a:new', 'c:new']);
  });

  it('should deliver { prefix } the changes of keys with the prefix, for every prefix length subscribed', async () => {
    const t = db.table('t');
    const eu = collect(t.changes({ prefix: 'eu/' }));
    const euNo = collect(t.changes({ prefix: 'eu/no/' }));
    const e = collect(t.changes({ prefix: 'e' }));
    await Promise.all(['eu/no/oslo', 'eu/se/malmo', 'us/ny', 'e', 'eu'].map((key) => t.put(key, 1)));
    expect(eu).toEqual(['eu/no/oslo:new', 'eu/se/malmo:new']);
    expect(euNo).toEqual(['eu/no/oslo:new']);
    expect(e).toEqual(['eu/no/oslo:new', 'eu/se/malmo:new', 'e:new', 'eu:new']);
  });

  it('should deliver { ops } only the changes of those kinds', async () => {
    const t = db.table('t');
    const seen = collect(t.changes({ ops: ['new', 'delete'] }));
    await t.put('a', 1);
    await t.put('a', 2);
    await t.delete('a');
    expect(seen).toEqual(['a:new', 'a:delete']);
  });

  it('should combine conditions: every one given must hold', async () => {
    const t = db.table<{ n: number }>('t');
    const seen = collect(t.changes({ prefix: 'x', ops: ['merge'], where: (value) => value.n > 1 }));
    await Promise.all([t.put('x1', { n: 1 }), t.put('y1', { n: 5 })]);
    await Promise.all([t.put('x1', { n: 2 }), t.put('y1', { n: 6 })]);
    expect(seen).toEqual(['x1:merge']);
  });

  it('should deliver { where } the changes of records that match before or after the change', async () => {
    const t = db.table<{ city: string }>('t');
    const seen = collect(t.changes({ where: (value) => value.city === 'Oslo' }));
    await t.put('a', { city: 'Oslo' }); // enters
    await t.put('b', { city: 'Rome' }); // never
    await t.put('a', { city: 'Rome' }); // leaves
    await t.delete('a'); // no longer matched
    await t.put('c', { city: 'Oslo' });
    await t.delete('c'); // matched before
    expect(seen).toEqual(['a:new', 'a:merge', 'c:new', 'c:delete']);
  });

  it('should give a { where } subscriber exactly the changes a full scan would pick', async () => {
    const random = new Random(99);
    const t = db.table<{ score: number; tag: string }>('t');
    const predicate = (value: { score: number; tag: string }, key: string) => value.score % 3 === 0 || (value.tag === 'b' && key < 'k20');
    const seen: Change[] = [];
    t.changes({ where: predicate }).subscribe((change) => seen.push(change as Change));
    const all: Change[] = [];
    t.changes().subscribe((change) => all.push(change as Change));
    for (let round = 0; round < 40; round++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 25; i++) {
        const key = `k${random.int(40)}`;
        if (random.chance(0.15)) writes.push(t.delete(key));
        else writes.push(t.merge(key, { score: random.int(20), tag: random.pick(['a', 'b']) }));
      }
      await Promise.all(writes);
    }
    const scan = all.filter(
      (change) =>
        (change.previous !== undefined && predicate(change.previous as never, change.key)) ||
        (change.value !== undefined && predicate(change.value as never, change.key)),
    );
    expect(seen.length).toBeGreaterThan(100);
    expect(seen).toEqual(scan);
  });

  it('should keep its own copy of the filter: changing the object afterwards changes nothing', async () => {
    const t = db.table('t');
    const filter = { key: 'a' };
    const seen = collect(t.changes(filter));
    filter.key = 'b';
    await Promise.all([t.put('a', 1), t.put('b', 1)]);
    expect(seen).toEqual(['a:new']);
  });

  it('should send an error of the predicate to that subscriber alone, and let the commit stand', async () => {
    const t = db.table('t');
    let failed: unknown;
    t.changes({
      where: () => {
        throw new Error('predicate bug');
      },
    }).subscribe({ error: (error) => (failed = error) });
    const others = collect(t.changes());
    expect(await t.put('k', 1)).toBe(1);
    await t.put('j', 1);
    expect((failed as Error).message).toBe('predicate bug');
    expect(others).toEqual(['k:new', 'j:new']);
    expect(t.get('k')).toBe(1);
  });

  describe('{ initial: true }', () => {
    it('should begin with the matching records as new changes, in key order, then the live changes', async () => {
      const t = db.table<{ n: number }>('t');
      await Promise.all([t.put('b', { n: 2 }), t.put('a', { n: 1 }), t.put('c', { n: 3 }), t.put('x', { n: 9 })]);
      const seen: Change[] = [];
      t.changes({ initial: true, where: (value) => value.n < 5 }).subscribe((change) => seen.push(change as Change));
      expect(seen.map((c) => [c.key, c.op, c.value])).toEqual([
        ['a', 'new', { n: 1 }],
        ['b', 'new', { n: 2 }],
        ['c', 'new', { n: 3 }],
      ]);
      expect(seen[0]!.patch).toEqual([{ op: 'add', path: '', value: { n: 1 } }]);
      expect(seen[0]!.seq).toBe(t.meta('a')!.version);
      await t.put('d', { n: 4 });
      expect(seen.map((c) => c.key)).toEqual(['a', 'b', 'c', 'd']);
    });

    it('should leave no gap and no duplicate with writes in flight and subscriptions made mid-publish', async () => {
      const t = db.table<{ n: number }>('t');
      const model = new Map<string, number>();
      const replicas: Map<string, number>[] = [];
      const follow = () => {
        const replica = new Map<string, number>();
        replicas.push(replica);
        t.changes({ initial: true }).subscribe((change) => {
          if (change.op === 'new') expect(replica.has(change.key)).withContext(`duplicate ${change.key}`).toBeFalse();
          if (change.value === undefined) replica.delete(change.key);
          else replica.set(change.key, change.value.n);
        });
      };
      follow();
      // Subscribe from inside another subscriber's callback, in the middle of a batch's delivery.
      let inside = 0;
      t.changes().subscribe(() => {
        if (inside++ % 37 === 0) follow();
      });
      const random = new Random(7);
      for (let round = 0; round < 20; round++) {
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 30; i++) {
          const key = `k${random.int(25)}`;
          if (random.chance(0.2)) {
            model.delete(key);
            writes.push(t.delete(key));
          } else {
            const n = random.int(1000);
            model.set(key, n);
            writes.push(t.put(key, { n }));
          }
          if (i === 15) follow(); // while writes of this batch are queued
        }
        await Promise.all(writes);
      }
      expect(replicas.length).toBeGreaterThan(20);
      for (const replica of replicas) expect(new Map([...replica].sort())).toEqual(new Map([...model].sort()));
    });

    it('should apply to db.changes() across tables', async () => {
      await db.table('b').put('k', 1);
      await db.table('a').put('k', 2);
      const seen: string[] = [];
      db.changes({ initial: true, key: 'k' }).subscribe((change) => seen.push(`${change.table}:${change.value}`));
      await db.table('c').put('k', 3);
      await db.table('c').put('other', 3);
      expect(seen).toEqual(['a:2', 'b:1', 'c:3']);
    });
  });

  describe('watch', () => {
    it('should emit the current value, then each new value', async () => {
      const t = db.table('t');
      await t.put('k', 1);
      const values: unknown[] = [];
      t.watch('k').subscribe((value) => values.push(value));
      await t.put('k', 2);
      await t.put('other', 0);
      await t.delete('k');
      await t.merge('k', { a: 1 });
      expect(values).toEqual([1, 2, undefined, { a: 1 }]);
    });

    it('should start with undefined for an absent record', async () => {
      const values: unknown[] = [];
      db.table('t').watch('nothing').subscribe((value) => values.push(value));
      expect(values).toEqual([undefined]);
    });

    it('should complete when the database closes', async () => {
      let completed = false;
      db.table('t').watch('k').subscribe({ complete: () => (completed = true) });
      await db.close();
      expect(completed).toBeTrue();
      ({ db } = await openTemp('memory'));
    });
  });

  it('should free every subscription on unsubscribe: a million subscribe/unsubscribe cycles do not grow the heap', async () => {
    const t = db.table('t');
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cycle = (i: number) => {
      const filters = [{ key: `k${i % 1000}` }, { prefix: `p${i % 97}/` }, { keys: [`a${i % 10}`, `b${i % 10}`] }, {}];
      t.changes(filters[i % 4]!).subscribe().unsubscribe();
    };
    for (let i = 0; i < 100_000; i++) cycle(i);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) cycle(i);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(2 * 1024 * 1024);
    // Nothing left behind: a change now reaches no one, and builds no event.
    const seen = collect(t.changes({ key: 'k1' }));
    await t.put('k1', 1);
    expect(seen).toEqual(['k1:new']);
  }, 60_000);
});
