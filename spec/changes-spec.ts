import jsonpatch from 'fast-json-patch';
import type { Change, Database, Json } from 'rxkv';
import { openTemp } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';
import { Random } from './helpers/random.js';

describe('Change events', () => {
  let db: Database;

  beforeEach(async () => {
    ({ db } = await openTemp('sync'));
  });

  afterEach(async () => {
    await db.close();
    removeTempDirs();
  });

  it('should describe each committed change with table, key, op, value, previous, patch, seq and ts', async () => {
    const t = db.table('accounts');
    const changes: Change[] = [];
    t.changes().subscribe((change) => changes.push(change));
    const before = Date.now();
    await t.merge('id', { username: 'roaringtt', profile: { age: 376 } });
    await t.merge('id', { profile: { age: 1 } });
    await t.delete('id');
    expect(changes[0]).toEqual({
      table: 'accounts',
      key: 'id',
      op: 'new',
      value: { username: 'roaringtt', profile: { age: 376 } },
      previous: undefined,
      patch: [{ op: 'add', path: '', value: { username: 'roaringtt', profile: { age: 376 } } }],
      seq: jasmine.any(Number),
      ts: jasmine.any(Number),
    });
    expect(changes[0]!.ts).toBeGreaterThanOrEqual(before);
    expect(changes[1]).toEqual(jasmine.objectContaining({ op: 'merge', patch: [{ op: 'replace', path: '/profile/age', value: 1 }] }));
    expect(changes[2]).toEqual(jasmine.objectContaining({ op: 'delete', value: undefined, patch: [{ op: 'remove', path: '' }] }));
    expect(changes[1]!.seq).toBeGreaterThan(changes[0]!.seq);
    expect(changes[2]!.seq).toBeGreaterThan(changes[1]!.seq);
  });

  it('should keep the patch through spreading, JSON and deep equality', async () => {
    const t = db.table('t');
    const changes: Change[] = [];
    t.changes().subscribe((change) => changes.push(change));
    await t.put('k', { a: 1 });
    await t.merge('k', { a: 2 });
    const patch = [{ op: 'replace', path: '/a', value: 2 }];
    expect({ ...changes[1]! }.patch).toEqual(patch as never);
    expect(JSON.parse(JSON.stringify(changes[1])).patch).toEqual(patch);
    expect(Object.keys(changes[1]!)).toContain('patch');
    expect(changes[1]!.patch).toBe(changes[1]!.patch); // computed once
  });

  it('should show a change only after it is durable, with the state already published', async () => {
    const t = db.table('t');
    const seen: [unknown, unknown][] = [];
    t.changes().subscribe((change) => seen.push([t.get(change.key), t.state$.value.get(change.key)]));
    await t.put('k', { a: 1 });
    expect(seen).toEqual([[{ a: 1 }, { a: 1 }]]);
  });

  it('should deliver every table to db.changes(), in commit order', async () => {
    const all: string[] = [];
    db.changes().subscribe((change) => all.push(`${change.table}/${change.key}`));
    await Promise.all([db.table('a').put('1', 1), db.table('b').put('2', 2), db.table('a').put('3', 3)]);
    expect(all).toEqual(['a/1', 'b/2', 'a/3']);
  });

  it('should deliver to a table only its own changes', async () => {
    const seen: string[] = [];
    db.table('a').changes().subscribe((change) => seen.push(change.table));
    await db.table('b').put('k', 1);
    await db.table('a').put('k', 1);
    expect(seen).toEqual(['a']);
  });

  it('should deliver to a { key } subscriber only the changes of that record', async () => {
    const t = db.table('t');
    const seen: string[] = [];
    const subscription = t.changes({ key: 'b' }).subscribe((change) => seen.push(`${change.key}:${change.op}`));
    await Promise.all([t.put('a', 1), t.put('b', 1), t.put('c', 1)]);
    await t.delete('b');
    await db.table('other').put('b', 1);
    subscription.unsubscribe();
    await t.put('b', 2);
    expect(seen).toEqual(['b:new', 'b:delete']);
  });

  it('should let a subscriber that subscribes during a delivery see only later changes', async () => {
    const t = db.table('t');
    const late: number[] = [];
    const first = t.changes({ key: 'k' }).subscribe(() => {
      first.unsubscribe();
      t.changes({ key: 'k' }).subscribe((change) => late.push(change.value as number));
    });
    await t.put('k', 1);
    await t.put('k', 2);
    expect(late).toEqual([2]);
  });

  it('should refuse an unknown filter or a bad key with INVALID_ARGUMENT or INVALID_KEY', () => {
    const t = db.table('t');
    expect(() => t.changes({ nope: 1 } as never)).toThrowMatching((error) => error.code === 'INVALID_ARGUMENT');
    expect(() => t.changes({ key: '' })).toThrowMatching((error) => error.code === 'INVALID_KEY');
  });

  it('should keep delivering to other subscribers when one throws', async () => {
    const t = db.table('t');
    const seen: string[] = [];
    const onUnhandled = jasmine.createSpy('onUnhandledError');
    const { config } = await import('rxjs');
    const previous = config.onUnhandledError;
    config.onUnhandledError = onUnhandled;
    try {
      t.changes().subscribe(() => {
        throw new Error('subscriber bug');
      });
      t.changes().subscribe((change) => seen.push(change.key));
      expect(await t.put('k', 1)).toBe(1);
      await t.put('j', 1);
      expect(seen).toEqual(['k', 'j']);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(onUnhandled).toHaveBeenCalled();
    } finally {
      config.onUnhandledError = previous;
    }
  });

  it('should carry patches that replay previous to value with fast-json-patch over thousands of seeded merges', async () => {
    const random = new Random(2024);
    const t = db.table('t');
    const changes: Change[] = [];
    t.changes().subscribe((change) => changes.push(change));
    // fast-json-patch refuses any path through __proto__ (browser/diff-spec covers that member).
    const member = () => random.pick(['a', 'b', 'c/d', 'e~f', 'constructor', 'list']);
    const randomPatch = (depth: number): Json => {
      if (depth === 0 || random.chance(0.3)) {
        return random.pick<Json>([null, 1, 'x', true, [1, 2], [{ a: 1 }], random.int(100)]);
      }
      const patch: Record<string, Json> = {};
      for (let i = random.int(3) + 1; i > 0; i--) {
        Object.defineProperty(patch, member(), { value: randomPatch(depth - 1), enumerable: true, writable: true, configurable: true });
      }
      return patch;
    };
    for (let round = 0; round < 60; round++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        const key = `k${random.int(10)}`;
        writes.push(random.chance(0.05) ? t.delete(key) : t.merge(key, randomPatch(3)));
      }
      await Promise.all(writes);
    }
    expect(changes.length).toBeGreaterThan(2000);
    for (const change of changes) {
      const document: { root?: unknown } = change.previous === undefined ? {} : { root: jsonpatch.deepClone(change.previous) };
      const ops = change.patch.map((op) => ({ ...op, path: '/root' + op.path }));
      const replayed = jsonpatch.applyPatch(document, ops as never, true, true).newDocument as { root?: unknown };
      expect(replayed.root).withContext(`seq ${change.seq}`).toEqual(change.value as never);
    }
  });
});
