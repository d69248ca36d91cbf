import type { Database, Row } from 'rxkv';
import { openTemp, thrownCode } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';
import { Random } from './helpers/random.js';

interface Player {
  team: string;
  score: number;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('Queries', () => {
  let db: Database;

  beforeEach(async () => {
    ({ db } = await openTemp('sync'));
  });

  afterEach(async () => {
    await db.close();
    removeTempDirs();
  });

  const players = () => db.table<Player>('players', { indexes: { byTeam: 'team' } });
  const byScore = (a: Player, b: Player) => b.score - a.score;

  async function fill(): Promise<void> {
    const t = players();
    await Promise.all([
      t.put('ann', { team: 'red', score: 10 }),
      t.put('ben', { team: 'blue', score: 30 }),
      t.put('cat', { team: 'red', score: 20 }),
      t.put('dan', { team: 'blue', score: 5 }),
    ]);
  }

  const keys = (rows: readonly Row<Player>[]) => rows.map(([key]) => key);

  it('should return the rows now: where, sort, limit', async () => {
    await fill();
    const top = players().query({ where: (p) => p.score >= 10, sort: byScore, limit: 2 });
    expect(keys(top)).toEqual(['ben', 'cat']);
    expect(top[0]).toEqual(['ben', { team: 'blue', score: 30 }]);
    expect(keys(players().query())).toEqual(['ann', 'ben', 'cat', 'dan']);
  });

  it('should select by index value or by key range', async () => {
    await fill();
    expect(keys(players().query({ index: 'byTeam', range: { gte: 'red', lte: 'red' } }))).toEqual(['ann', 'cat']);
    expect(keys(players().query({ range: { gt: 'ann', lt: 'dan' } }))).toEqual(['ben', 'cat']);
    expect(keys(players().query({ range: { prefix: 'b' } }))).toEqual(['ben']);
  });

  it('should keep a live result up to date as records enter, leave and move, emitting once per commit', async () => {
    await fill();
    const t = players();
    const results: string[][] = [];
    t.query({ where: (p) => p.team === 'red', sort: byScore }).live().subscribe((rows) => results.push(keys(rows)));
    expect(results).toEqual([['cat', 'ann']]);
    await t.put('eve', { team: 'red', score: 15 }); // enters
    await tick();
    await t.merge('ann', { score: 50 }); // moves
    await tick();
    await t.merge('cat', { team: 'blue' }); // leaves
    await tick();
    await Promise.all([t.merge('ann', { score: 1 }), t.delete('eve')]); // one commit, one emission
    await tick();
    expect(results).toEqual([['cat', 'ann'], ['cat', 'eve', 'ann'], ['ann', 'cat', 'eve'], ['ann', 'eve'], ['ann']]);
  });

  it('should emit only when the visible result changed', async () => {
    await fill();
    const t = players();
    let emissions = 0;
    t.query({ sort: byScore, limit: 2 }).live().subscribe(() => emissions++);
    await t.merge('dan', { score: 6 }); // below the top two
    await t.put('zed', { team: 'red', score: 0 });
    await t.merge('ben', { team: 'green' }); // inside: a value in the result changed
    await tick();
    expect(emissions).toBe(2);
  });

  it('should follow an index range live', async () => {
    await fill();
    const t = players();
    let last: string[] = [];
    t.query({ index: 'byTeam', range: { gte: 'blue', lte: 'blue' } }).live().subscribe((rows) => (last = keys(rows)));
    await t.merge('ann', { team: 'blue' });
    await t.delete('ben');
    await tick();
    expect(last).toEqual(['ann', 'dan']);
  });

  it('should match a fresh query after every commit over random writes', async () => {
    const random = new Random(123);
    const t = players();
    const spec = { where: (p: Player) => p.score % 2 === 0, sort: byScore, limit: 5 };
    let live: string[] = [];
    t.query(spec).live().subscribe((rows) => (live = keys(rows)));
    for (let round = 0; round < 40; round++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        const key = `p${random.int(20)}`;
        if (random.chance(0.2)) writes.push(t.delete(key));
        else writes.push(t.put(key, { team: random.pick(['red', 'blue']), score: random.int(50) }));
      }
      await Promise.all(writes);
      await tick();
      expect(live).withContext(`round ${round}`).toEqual(keys(t.query(spec)));
    }
  });

  it('should send an error of where to the live subscriber and leave the commit standing', async () => {
    await fill();
    const t = players();
    let failed: unknown;
    t.query({ where: (p) => { if (p.score > 100) throw new Error('too high'); return true; } })
      .live()
      .subscribe({ error: (error) => (failed = error) });
    expect(await t.merge('ann', { score: 101 })).toEqual({ team: 'red', score: 101 });
    expect((failed as Error).message).toBe('too high');
  });

  it('should leave out of an index query a record whose index function throws, and keep the live query going', async () => {
    const t = db.table<{ n: number }>('q', { indexes: { byN: (value) => { if (value.n < 0) throw new Error('negative'); return value.n; } } });
    await t.put('a', { n: 1 });
    let failed = false;
    let last: string[] = [];
    t.query({ index: 'byN' }).live().subscribe({ next: (rows) => (last = rows.map(([key]) => key)), error: () => (failed = true) });
    await t.put('bad', { n: -1 });
    await t.put('b', { n: 2 });
    await tick();
    expect(failed).toBeFalse();
    expect(last).toEqual(['a', 'b']);
  });

  it('should refuse bad specs with INVALID_ARGUMENT', () => {
    const t = players();
    expect(thrownCode(() => t.query({ index: 'nope' }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.query({ limit: -1 }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.query({ where: 'x' as never }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.query({ range: { gt: 3 } }))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => t.query({ order: 'x' } as never))).toBe('INVALID_ARGUMENT');
  });
});
