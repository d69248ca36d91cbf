import type { Access, ServeOptions } from 'rxkv/server';
import type { RemoteDatabase } from 'rxkv/client';
import { rejectedCode } from './helpers/db.js';
import { RawClient, client, eventually, startServer, stopServer, until, type Served } from './helpers/sync.js';
import { removeTempDirs } from './helpers/temp.js';

describe('sync: what the inspector asks of a server (tables, server figures, pages of records)', () => {
  let served: Served | undefined;
  const remotes: RemoteDatabase[] = [];

  afterEach(async () => {
    for (const remote of remotes.splice(0)) await remote.close();
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  async function start(options: ServeOptions<any> = {}): Promise<RemoteDatabase> {
    served = await startServer(options);
    await served.db.transaction((tx) => {
      for (let i = 0; i < 30; i++) tx.table('people').put(`p${String(i).padStart(2, '0')}`, { i });
      tx.table('other').put('x', { n: 1 });
    });
    const remote = client(served.url);
    remotes.push(remote);
    await until(remote, 'open');
    return remote;
  }

  it('should refuse the table list and the server figures without an authorize that allows inspect', async () => {
    const remote = await start();
    expect(await rejectedCode(remote.tables())).toBe('FORBIDDEN');
    expect(await rejectedCode(remote.serverStats())).toBe('FORBIDDEN');
    // A page of records is a read, allowed as reads are.
    expect((await remote.table('people').page({ limit: 2 })).records.length).toBe(2);
  });

  it('should list the tables with their counts, and report the server figures, once inspect is allowed', async () => {
    const asked: Access[] = [];
    const remote = await start({ authorize: (_principal, access) => (asked.push(access), true) });
    expect(await remote.tables()).toEqual([{ name: 'other', records: 1 }, { name: 'people', records: 30 }]);
    expect(asked).toContain({ action: 'inspect', table: '*' });
    const watcher = client(served!.url);
    remotes.push(watcher);
    watcher.table('people').state$.subscribe();
    watcher.table('other').watch('x').subscribe();
    await eventually(() => watcher.table('people').size === 30, 'the second client');
    let writing = true;
    const writes = (async () => {
      for (let n = 0; writing; n++) await served!.db.table('other').put('x', { n });
    })();
    let stats = await remote.serverStats();
    const deadline = Date.now() + 3000;
    while (stats.commitsPerSecond === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stats = await remote.serverStats();
    }
    writing = false;
    await writes;
    expect(stats.connections).toBe(2);
    expect(stats.subscriptions).toEqual({ people: 1, other: 1 });
    expect(stats.commitsPerSecond).toBeGreaterThan(0);
    expect(stats.history).toBe(served!.db.history);
    expect(stats.seq).toBeGreaterThan(1);
    expect(stats.slowClients).toBe(0);
    expect(stats.bufferedBytes).toBeGreaterThanOrEqual(0);
  });

  it('should read pages of records with their metadata, in key order within bounds, and say when more lie beyond', async () => {
    const remote = await start({ authorize: (_principal, access) => access.table !== 'secret' });
    await served!.db.table('people').merge('p05', { changed: true });
    const first = await remote.table('people').page({ gte: 'p04', limit: 3 });
    expect(first.records.map(([key]) => key)).toEqual(['p04', 'p05', 'p06']);
    expect(first.more).toBeTrue();
    expect(first.records[1]).toEqual(['p05', { i: 5, changed: true }, served!.db.table('people').meta('p05')!]);
    const last = await remote.table('people').page({ gt: 'p27' });
    expect(last).toEqual({ records: [['p28', { i: 28 }, jasmine.any(Object)], ['p29', { i: 29 }, jasmine.any(Object)]], more: false });
    expect((await remote.table('people').page({ prefix: 'p1', reverse: true, limit: 2 })).records.map(([key]) => key)).toEqual(['p19', 'p18']);
    expect(await remote.table('nothing').page()).toEqual({ records: [], more: false });
    expect(await rejectedCode(remote.table('secret').page())).toBe('FORBIDDEN');
    await expectAsync(remote.table('people').page({ limit: 1001 })).toBeRejectedWith(jasmine.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(served!.db.tableNames()).toEqual(['other', 'people']); // reading a page creates no table
  });

  it('should answer malformed inspect and records requests with BAD_MESSAGE', async () => {
    await start();
    const raw = await RawClient.hello(served!.url);
    const bad = [
      { type: 'inspect', id: 1, what: 'everything' },
      { type: 'records', id: 2 },
      { type: 'records', id: 3, table: 't', range: { limit: 0 } },
      { type: 'records', id: 4, table: 't', range: { gt: 5 } },
      { type: 'records', id: 5, table: 't', range: [] },
    ];
    for (const message of bad) raw.send(message);
    for (const { id } of bad) expect((await raw.reply(id)).code).withContext(String(id)).toBe('BAD_MESSAGE');
    raw.send({ type: 'records', id: 6, table: 'no/slash' });
    expect((await raw.reply(6)).code).toBe('INVALID_TABLE_NAME');
    raw.close();
  });
});
