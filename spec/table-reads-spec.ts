import type { Database, Snapshot } from 'rxkv';
import { DURABILITIES, openTemp, thrownCode } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';
import { Random } from './helpers/random.js';

for (const durability of DURABILITIES) {
  describe(`Table reads (durability '${durability}')`, () => {
    let db: Database;

    beforeEach(async () => {
      ({ db } = await openTemp(durability));
    });

    afterEach(async () => {
      await db.close();
      removeTempDirs();
    });

    async function fill(keys: string[]): Promise<void> {
      const t = db.table('t');
      await Promise.all(keys.map((key) => t.put(key, { key })));
    }

    it('should get, has and size over committed records only', async () => {
      const t = db.table('t');
      const pending = t.put('a', 1);
      expect(t.get('a')).toBeUndefined(); // not yet durable, so not yet visible
      expect(t.has('a')).toBeFalse();
      await pending;
      expect(t.get('a')).toBe(1);
      expect(t.has('a')).toBeTrue();
      expect(t.size).toBe(1);
    });

    it('should iterate keys, values and entries in key order', async () => {
      await fill(['m', 'b', 'z', 'a', 'ab']);
      const t = db.table('t');
      expect([...t.keys()]).toEqual(['a', 'ab', 'b', 'm', 'z']);
      expect([...t.values()]).toEqual(['a', 'ab', 'b', 'm', 'z'].map((key) => ({ key })));
      expect([...t.entries()].map(([key]) => key)).toEqual(['a', 'ab', 'b', 'm', 'z']);
      expect([...t].length).toBe(5);
    });

    it('should keep key order through random inserts and deletes', async () => {
      const random = new Random(42);
      const t = db.table('t');
      const model = new Set<string>();
      for (let round = 0; round < 30; round++) {
        const writes: Promise<unknown>[] = [];
        for (let i = 0; i < 20; i++) {
          const key = `k${random.int(200)}`;
          if (random.chance(0.3)) {
            model.delete(key);
            writes.push(t.delete(key));
          } else {
            model.add(key);
            writes.push(t.put(key, i));
          }
        }
        await Promise.all(writes);
        expect([...t.keys()]).toEqual([...model].sort());
        expect(t.size).toBe(model.size);
      }
    });

    describe('range', () => {
      beforeEach(() => fill(['a', 'b', 'ba', 'bb', 'bc', 'c', 'd']));

      const keys = (options: object) => [...db.table('t').range(options)].map(([key]) => key);

      it('should select by prefix', () => {
        expect(keys({ prefix: 'b' })).toEqual(['b', 'ba', 'bb', 'bc']);
        expect(keys({ prefix: 'bb' })).toEqual(['bb']);
        expect(keys({ prefix: 'x' })).toEqual([]);
      });

      it('should select by gt, gte, lt and lte bounds', () => {
        expect(keys({ gt: 'b', lt: 'c' })).toEqual(['ba', 'bb', 'bc']);
        expect(keys({ gte: 'b', lte: 'c' })).toEqual(['b', 'ba', 'bb', 'bc', 'c']);
        expect(keys({ gt: 'bc' })).toEqual(['c', 'd']);
        expect(keys({ lte: 'a' })).toEqual(['a']);
        expect(keys({ gt: 'd' })).toEqual([]);
        expect(keys({ gt: 'c', lt: 'b' })).toEqual([]);
      });

      it('should combine a prefix with bounds, a limit and reverse order', () => {
        expect(keys({ prefix: 'b', gt: 'ba' })).toEqual(['bb', 'bc']);
        expect(keys({ prefix: 'b', limit: 2 })).toEqual(['b', 'ba']);
        expect(keys({ prefix: 'b', reverse: true })).toEqual(['bc', 'bb', 'ba', 'b']);
        expect(keys({ reverse: true, limit: 3, lt: 'd' })).toEqual(['c', 'bc', 'bb']);
        expect(keys({ limit: 0 })).toEqual([]);
      });

      it('should return [key, value] pairs', () => {
        expect([...db.table('t').range({ prefix: 'bb' })]).toEqual([['bb', { key: 'bb' }]]);
      });

      it('should refuse bad options with INVALID_ARGUMENT', () => {
        const t = db.table('t');
        expect(thrownCode(() => t.range({ limit: -1 }))).toBe('INVALID_ARGUMENT');
        expect(thrownCode(() => t.range({ prefix: 3 as unknown as string }))).toBe('INVALID_ARGUMENT');
        expect(thrownCode(() => t.range({ reverse: 'yes' as unknown as boolean }))).toBe('INVALID_ARGUMENT');
      });
    });

    describe('snapshot', () => {
      it('should never change, however the table changes afterwards', async () => {
        const t = db.table('t');
        await fill(['a', 'b', 'c']);
        const snapshot = t.snapshot();
        await t.merge('a', { more: 1 });
        await t.delete('b');
        await t.put('d', 4);
        await t.put('b', 'back');
        expect(snapshot.get('a')).toEqual({ key: 'a' });
        expect(snapshot.get('b')).toEqual({ key: 'b' });
        expect(snapshot.has('d')).toBeFalse();
        expect(snapshot.size).toBe(3);
        expect([...snapshot.keys()]).toEqual(['a', 'b', 'c']);
        expect([...snapshot.range({ gte: 'b' })]).toEqual([['b', { key: 'b' }], ['c', { key: 'c' }]]);
        expect(t.get('b')).toBe('back');
      });

      it('should stay exact over many snapshots and random writes', async () => {
        const random = new Random(1234);
        const t = db.table('t');
        const held: { snapshot: Snapshot; expected: [string, unknown][] }[] = [];
        for (let round = 0; round < 40; round++) {
          const writes: Promise<unknown>[] = [];
          for (let i = 0; i < 10; i++) {
            const key = `k${random.int(30)}`;
            writes.push(random.chance(0.25) ? t.delete(key) : t.merge(key, { [`f${random.int(3)}`]: round }));
          }
          await Promise.all(writes);
          if (round % 3 === 0) held.push({ snapshot: t.snapshot(), expected: [...t.entries()] });
          // Read some old snapshots along the way, so that both folded and unfolded ones are checked.
          const probe = held[random.int(held.length)]!;
          expect(probe.snapshot.get(probe.expected[0]?.[0] ?? 'none')).toEqual(probe.expected[0]?.[1] as never);
        }
        for (const { snapshot, expected } of held) {
          expect([...snapshot.entries()]).toEqual(expected as never);
          for (const [key, value] of expected) expect(snapshot.get(key)).toEqual(value as never);
        }
      });

      it('should let an iterator started before a commit finish over the old state', async () => {
        const t = db.table('t');
        await fill(['a', 'b', 'c', 'd']);
        const iterator = t.keys();
        expect(iterator.next().value).toBe('a');
        await t.delete('b');
        await t.put('bb', 1);
        expect([...iterator]).toEqual(['b', 'c', 'd']);
      });

      it('should hand out frozen records', async () => {
        const t = db.table('t');
        await t.put('k', { a: { b: [1] } });
        const value = t.get('k') as { a: { b: number[] } };
        expect(Object.isFrozen(value) && Object.isFrozen(value.a) && Object.isFrozen(value.a.b)).toBeTrue();
        expect(() => {
          'use strict';
          value.a.b.push(2);
        }).toThrowError(TypeError);
      });
    });

    describe('state$', () => {
      it('should hold the current snapshot and emit once per commit, for a whole batch', async () => {
        const t = db.table('t');
        const seen: Snapshot[] = [];
        t.state$.subscribe((snapshot) => seen.push(snapshot));
        expect(seen.length).toBe(1);
        await Promise.all([t.put('a', 1), t.put('b', 2), t.put('c', 3)]); // one batch
        expect(seen.length).toBe(2);
        expect(seen[1]!.size).toBe(3);
        expect(seen[0]!.size).toBe(0);
        expect(t.state$.value).toBe(seen[1]!);
      });

      it('should not emit for commits that do not touch the table', async () => {
        const t = db.table('t');
        let emissions = 0;
        t.state$.subscribe(() => emissions++);
        await db.table('other').put('x', 1);
        expect(emissions).toBe(1);
      });

      it('should be read-only from outside', () => {
        const t = db.table('t');
        expect(thrownCode(() => t.state$.next(t.snapshot()))).toBe('READ_ONLY');
      });
    });
  });
}
