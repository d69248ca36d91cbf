import type { Change, Database, Json } from 'rxkv';
import { DURABILITIES, openTemp, rejectedCode } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';

for (const durability of DURABILITIES) {
  describe(`Table writes (durability '${durability}')`, () => {
    let db: Database;
    let changes: Change[];

    beforeEach(async () => {
      ({ db } = await openTemp(durability));
      changes = [];
      db.changes().subscribe((change) => changes.push(change));
    });

    afterEach(async () => {
      await db.close();
      removeTempDirs();
    });

    describe('merge', () => {
      it('should create an absent record and resolve with it', async () => {
        const users = db.table('users');
        expect(await users.merge('u1', { name: 'Ada', profile: { age: 36 } })).toEqual({ name: 'Ada', profile: { age: 36 } });
        expect(users.get('u1')).toEqual({ name: 'Ada', profile: { age: 36 } });
        expect(changes.map((c) => c.op)).toEqual(['new']);
      });

      it('should deep-merge into an existing record, removing members set to null', async () => {
        const users = db.table('users');
        await users.merge('u1', { name: 'Ada', profile: { age: 36, city: 'London' }, tags: ['a'] });
        const result = await users.merge('u1', { profile: { city: null, lang: 'en' }, tags: ['b', 'c'] });
        expect(result).toEqual({ name: 'Ada', profile: { age: 36, lang: 'en' }, tags: ['b', 'c'] });
        expect(changes[1]!.op).toBe('merge');
      });

      it('should replace the value with a patch that is not an object', async () => {
        const t = db.table('t');
        await t.merge('k', { a: 1 });
        expect(await t.merge('k', [1, 2])).toEqual([1, 2]);
        expect(await t.merge('k', { b: 1 })).toEqual({ b: 1 });
      });

      it('should share unchanged subtrees with the previous version', async () => {
        const t = db.table('t');
        await t.merge('k', { left: { x: 1 }, right: { y: 1 } });
        const before = t.get('k') as { left: object; right: object };
        await t.merge('k', { right: { y: 2 } });
        const after = t.get('k') as { left: object; right: object };
        expect(after.left).toBe(before.left);
        expect(after.right).not.toBe(before.right);
      });
    });

    describe('update', () => {
      it('should merge into an existing record', async () => {
        const t = db.table('t');
        await t.put('k', { a: 1 });
        expect(await t.update('k', { b: 2 })).toEqual({ a: 1, b: 2 });
      });

      it('should resolve undefined and write nothing when the record is absent', async () => {
        const t = db.table('t');
        const seq = db.seq;
        expect(await t.update('missing', { a: 1 })).toBeUndefined();
        expect(t.has('missing')).toBeFalse();
        expect(db.seq).toBe(seq);
        expect(changes).toEqual([]);
      });
    });

    describe('put', () => {
      it('should replace the whole value with any JSON value', async () => {
        const t = db.table('t');
        await t.put('k', { a: 1, b: 2 });
        expect(await t.put('k', { c: 3 })).toEqual({ c: 3 });
        for (const value of ['text', 42, true, null, [1, 'two']] as Json[]) {
          expect(await t.put('k', value)).toEqual(value);
          expect(t.get('k')).toEqual(value);
        }
      });
    });

    describe('delete', () => {
      it('should remove the record and resolve undefined', async () => {
        const t = db.table('t');
        await t.put('k', { a: 1 });
        expect(await t.delete('k')).toBeUndefined();
        expect(t.has('k')).toBeFalse();
        expect(changes[1]).toEqual(jasmine.objectContaining({ op: 'delete', previous: { a: 1 }, value: undefined }));
      });

      it('should write and emit nothing for an absent record', async () => {
        const seq = db.seq;
        await db.table('t').delete('never');
        expect(db.seq).toBe(seq);
        expect(changes).toEqual([]);
      });
    });

    describe('increment', () => {
      it('should add to a nested number, creating it at 0', async () => {
        const t = db.table('t');
        expect(await t.increment('k', 'counters.a')).toEqual({ counters: { a: 1 } });
        expect(await t.increment('k', 'counters.a', 5)).toEqual({ counters: { a: 6 } });
        expect(await t.increment('k', ['counters', 'b.c'], -2)).toEqual({ counters: { a: 6, 'b.c': -2 } });
      });

      it('should reject with NOT_A_NUMBER over a member that is not a number', async () => {
        const t = db.table('t');
        await t.put('k', { name: 'x', deep: 'y' });
        expect(await rejectedCode(t.increment('k', 'name'))).toBe('NOT_A_NUMBER');
        expect(await rejectedCode(t.increment('k', 'deep.n'))).toBe('NOT_A_NUMBER');
        expect(t.get('k')).toEqual({ name: 'x', deep: 'y' });
      });
    });

    describe('produce', () => {
      it('should run an Immer recipe on a draft of the record', async () => {
        const t = db.table<{ n: number; list: number[] }>('t');
        await t.put('k', { n: 1, list: [1] });
        expect(await t.produce('k', (draft) => {
          draft.n += 1;
          draft.list.push(2);
        })).toEqual({ n: 2, list: [1, 2] });
      });

      it('should start from {} when the record is absent', async () => {
        const t = db.table<{ n?: number }>('t');
        expect(await t.produce('k', (draft) => {
          draft.n = 1;
        })).toEqual({ n: 1 });
      });

      it('should reject a recipe that puts something other than JSON in the record', async () => {
        const t = db.table('t');
        await t.put('k', { a: 1 });
        expect(await rejectedCode(t.produce('k', (draft) => {
          (draft as Record<string, unknown>)['when'] = new Date();
        }))).toBe('INVALID_VALUE');
        expect(t.get('k')).toEqual({ a: 1 });
      });

      it('should reject with what the recipe threw, and write nothing', async () => {
        const t = db.table('t');
        const seq = db.seq;
        await expectAsync(t.produce('k', () => {
          throw new Error('recipe failed');
        })).toBeRejectedWithError('recipe failed');
        expect(db.seq).toBe(seq);
      });
    });

    describe('clear', () => {
      it('should delete every record in one commit with one change per record', async () => {
        const t = db.table('t');
        await Promise.all([t.put('a', 1), t.put('b', 2), t.put('c', 3)]);
        await db.table('other').put('x', 1);
        changes = [];
        const seq = db.seq;
        expect(await t.clear()).toBe(3);
        expect(t.size).toBe(0);
        expect(db.table('other').get('x')).toBe(1);
        expect(changes.map((c) => [c.key, c.op])).toEqual([['a', 'delete'], ['b', 'delete'], ['c', 'delete']]);
        expect(new Set(changes.map((c) => c.seq))).toEqual(new Set([seq + 1]));
      });
    });

    describe('ifVersion', () => {
      it('should write when the version matches and reject with CONFLICT otherwise', async () => {
        const t = db.table('t');
        await t.put('k', { a: 1 });
        const version = t.meta('k')!.version;
        expect(await rejectedCode(t.merge('k', { a: 2 }, { ifVersion: version + 1 }))).toBe('CONFLICT');
        expect(await t.merge('k', { a: 2 }, { ifVersion: version })).toEqual({ a: 2 });
        expect(await rejectedCode(t.merge('k', { a: 3 }, { ifVersion: version }))).toBe('CONFLICT');
        expect(t.get('k')).toEqual({ a: 2 });
      });

      it('should treat version 0 as "the record must not exist"', async () => {
        const t = db.table('t');
        expect(await t.put('k', 1, { ifVersion: 0 })).toBe(1);
        expect(await rejectedCode(t.put('k', 2, { ifVersion: 0 }))).toBe('CONFLICT');
      });

      it('should see the writes queued before it in the same batch', async () => {
        const t = db.table('t');
        await t.put('k', 0);
        const v = t.meta('k')!.version;
        const first = t.put('k', 1, { ifVersion: v });
        const second = t.put('k', 2, { ifVersion: v });
        expect(await first).toBe(1);
        expect(await rejectedCode(second)).toBe('CONFLICT');
      });
    });

    describe('a write that changes nothing', () => {
      it('should write nothing, emit nothing and resolve with the current record', async () => {
        const t = db.table('t');
        await t.put('k', { a: 1, list: [1, 2], nested: { b: 2 } });
        const seq = db.seq;
        const states: unknown[] = [];
        const subscription = t.state$.subscribe((snapshot) => states.push(snapshot));
        changes = [];
        expect(await t.merge('k', { a: 1, list: [1, 2], nested: { b: 2 }, gone: null })).toEqual({ a: 1, list: [1, 2], nested: { b: 2 } });
        expect(await t.put('k', { nested: { b: 2 }, list: [1, 2], a: 1 })).toEqual({ a: 1, list: [1, 2], nested: { b: 2 } });
        expect(await t.increment('k', 'a', 0)).toEqual(t.get('k')!);
        expect(await t.produce('k', (draft: any) => {
          draft.a = 1;
        })).toEqual(t.get('k')!);
        expect(db.seq).toBe(seq);
        expect(changes).toEqual([]);
        expect(states.length).toBe(1); // only the BehaviorSubject's current value
        subscription.unsubscribe();
      });
    });

    describe('ordering', () => {
      it('should apply writes in call order and settle their promises in call order', async () => {
        const t = db.table('t');
        const settled: number[] = [];
        const writes = Array.from({ length: 50 }, (_, i) => t.merge('k', { n: i, [`m${i}`]: i }).then(() => settled.push(i)));
        await Promise.all(writes);
        expect(settled).toEqual(Array.from({ length: 50 }, (_, i) => i));
        expect((t.get('k') as { n: number }).n).toBe(49);
        const seqs = changes.map((c) => c.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        expect(new Set(seqs).size).toBe(50);
      });

      it('should keep call order across batches when more writes are queued than one batch holds', async () => {
        const t = db.table('t');
        const settled: number[] = [];
        const writes = Array.from({ length: 2000 }, (_, i) => t.merge(`k${i % 7}`, { n: i }).then(() => settled.push(i)));
        await Promise.all(writes);
        expect(settled).toEqual(Array.from({ length: 2000 }, (_, i) => i));
        for (let k = 0; k < 7; k++) {
          const last = Math.max(...Array.from({ length: 2000 }, (_, i) => i).filter((i) => i % 7 === k));
          expect(t.get(`k${k}`)).toEqual({ n: last });
        }
        const seqs = changes.map((c) => c.seq);
        expect(seqs.length).toBe(2000);
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
      });

      it('should settle a no-op write after the write before it, even when it is batched alone', async () => {
        const t = db.table('t');
        const settled: string[] = [];
        const first = t.merge('k', { a: 1 }).then(() => settled.push('first'));
        await Promise.resolve(); // the next tick: a batch of its own, applied while the first syncs
        const second = t.merge('k', { a: 1 }).then(() => settled.push('second'));
        await Promise.all([first, second]);
        expect(settled).toEqual(['first', 'second']);
      });

      it('should give every commit a strictly increasing seq, database-wide', async () => {
        await db.table('a').put('k', 1);
        const first = db.seq;
        await db.table('b').put('k', 1);
        expect(db.seq).toBeGreaterThan(first);
        expect(db.table('b').meta('k')!.version).toBe(db.seq);
      });
    });

    describe('metadata', () => {
      it('should keep created, updated and version beside the value', async () => {
        const t = db.table('t');
        const start = Date.now();
        await t.put('k', { a: 1 });
        const first = t.meta('k')!;
        expect(first.created).toBeGreaterThanOrEqual(start);
        expect(first.updated).toBe(first.created);
        await new Promise((resolve) => setTimeout(resolve, 5));
        await t.merge('k', { b: 1 });
        const second = t.meta('k')!;
        expect(second.created).toBe(first.created);
        expect(second.updated).toBeGreaterThan(first.updated);
        expect(second.version).toBeGreaterThan(first.version);
        expect(t.get('k')).toEqual({ a: 1, b: 1 });
      });
    });
  });
}
