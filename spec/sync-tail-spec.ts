import type { Access, ServeOptions } from 'rxkv/server';
import type { PatchChange, RemoteDatabase } from 'rxkv/client';
import { TcpProxy } from './helpers/proxy.js';
import { RawClient, client, eventually, startServer, stopServer, until, type Served } from './helpers/sync.js';
import { removeTempDirs } from './helpers/temp.js';

describe('sync: the change stream of a remote database (RemoteDatabase.changes, a tail without a replica)', () => {
  let served: Served | undefined;
  let proxy: TcpProxy | undefined;
  const remotes: RemoteDatabase[] = [];

  afterEach(async () => {
    for (const remote of remotes.splice(0)) await remote.close();
    await proxy?.close();
    proxy = undefined;
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  async function start(options: ServeOptions<any> = {}): Promise<RemoteDatabase> {
    served = await startServer(options);
    // Records before the stream starts: a tail sends no snapshot of them.
    await served.db.transaction((tx) => {
      for (let i = 0; i < 50; i++) tx.table('people').put(`p${i}`, { i });
    });
    const remote = client(served.url);
    remotes.push(remote);
    await until(remote, 'open');
    return remote;
  }

  /** Collects a stream's changes; resolves once the server answered its subscribe (a round trip after it). */
  async function collect(remote: RemoteDatabase, filter: Parameters<RemoteDatabase['changes']>[0] = {}): Promise<{ changes: PatchChange[]; errors: unknown[] }> {
    const changes: PatchChange[] = [];
    const errors: unknown[] = [];
    remote.changes(filter).subscribe({ next: (change) => changes.push(change), error: (error) => errors.push(error) });
    await remote.table('people').page({ limit: 1 }); // answered after the subscribe: it is live
    return { changes, errors };
  }

  it('should stream every table\'s changes with their patches, and send no snapshot', async () => {
    const remote = await start();
    const { changes } = await collect(remote);
    const db = served!.db;
    await db.table('people').merge('p1', { name: 'Ada' });
    await db.table('orders').put('o1', { total: 3 });
    await db.table('people').delete('p2');
    await eventually(() => changes.length === 3, 'three changes');
    expect(changes.map(({ table, key, op }) => [table, key, op])).toEqual([
      ['people', 'p1', 'merge'],
      ['orders', 'o1', 'new'],
      ['people', 'p2', 'delete'],
    ]);
    expect(changes[0]!.patch).toEqual([{ op: 'add', path: '/name', value: 'Ada' }]);
    expect(changes[1]!.patch).toEqual([{ op: 'add', path: '', value: { total: 3 } }]);
    expect(changes.map((change) => change.seq)).toEqual([db.seq - 2, db.seq - 1, db.seq]);
    expect(changes.every((change) => typeof change.ts === 'number' && change.ts > 0)).toBe(true);
    // It holds no records: the table's replica is empty (nothing subscribed it).
    expect(remote.table('people').size).toBe(0);
  });

  it('should filter by table, key prefix and op', async () => {
    const remote = await start();
    const byTable = await collect(remote, { table: 'people' });
    const byPrefix = await collect(remote, { prefix: 'eu/' });
    const byOp = await collect(remote, { table: 'people', ops: ['delete'] });
    const db = served!.db;
    await db.table('orders').put('eu/1', { n: 1 });
    await db.table('people').put('eu/2', { n: 2 });
    await db.table('people').delete('p3');
    await eventually(() => byTable.changes.length === 2 && byPrefix.changes.length === 2 && byOp.changes.length === 1, 'the filtered changes');
    expect(byTable.changes.map((change) => change.key)).toEqual(['eu/2', 'p3']);
    expect(byPrefix.changes.map((change) => `${change.table}/${change.key}`)).toEqual(['orders/eu/1', 'people/eu/2']);
    expect(byOp.changes.map((change) => change.key)).toEqual(['p3']);
  });

  it('should ask authorize for a read of "*" (every table) or of the table, and stream nothing when refused', async () => {
    const asked: Access[] = [];
    const remote = await start({ authorize: (_principal, access) => (asked.push(access), access.table !== '*') });
    const all = await collect(remote);
    const one = await collect(remote, { table: 'people', prefix: 'p' });
    expect(asked).toContain({ action: 'read', table: '*' });
    expect(asked).toContain({ action: 'read', table: 'people', prefix: 'p' });
    expect(all.errors.map((error: any) => error.code)).toEqual(['FORBIDDEN']);
    await served!.db.table('people').merge('p1', { seen: true });
    await eventually(() => one.changes.length === 1, 'the allowed stream');
    expect(all.changes).toEqual([]);
  });

  it('should resume after a dropped connection from the last change it gave: none lost, none twice', async () => {
    served = await startServer();
    proxy = await TcpProxy.start(served.server.port);
    const remote = client(`ws://127.0.0.1:${proxy.port}`);
    remotes.push(remote);
    await until(remote, 'open');
    const { changes } = await collect(remote);
    const db = served.db;
    const seqs: number[] = [];
    const write = async (n: number): Promise<void> => {
      await db.table('counter').put(`k${n % 3}`, { n });
      seqs.push(db.seq);
    };
    for (let n = 0; n < 20; n++) await write(n);
    await eventually(() => changes.length === 20, 'the first changes');
    proxy.drop();
    for (let n = 20; n < 40; n++) await write(n); // while it is away: replayed from the server's log
    await until(remote, 'open');
    for (let n = 40; n < 50; n++) await write(n);
    await eventually(() => changes.length >= 50, 'every change');
    await remote.table('people').page({ limit: 1 });
    expect(changes.map((change) => change.seq)).toEqual(seqs);
    expect(changes.map((change) => change.key)).toEqual(seqs.map((_, n) => `k${n % 3}`));
  });

  it('should stop on the server when unsubscribed', async () => {
    const remote = await start({ authorize: () => true });
    const subscription = remote.changes().subscribe();
    await remote.table('people').page({ limit: 1 });
    expect((await remote.serverStats()).subscriptions).toEqual({ '*': 1 });
    subscription.unsubscribe();
    await remote.table('people').page({ limit: 1 });
    expect((await remote.serverStats()).subscriptions).toEqual({});
  });

  it('should refuse a bad filter with INVALID_ARGUMENT, and a bad tail on the wire with BAD_MESSAGE', async () => {
    const remote = await start();
    expect(() => remote.changes({ table: '' })).toThrowMatching((error: any) => error.code === 'INVALID_TABLE_NAME');
    expect(() => remote.changes({ ops: ['insert' as any] })).toThrowMatching((error: any) => error.code === 'INVALID_ARGUMENT');
    expect(() => remote.changes({ prefix: 3 as any })).toThrowMatching((error: any) => error.code === 'INVALID_ARGUMENT');
    const raw = await RawClient.hello(served!.url);
    raw.send({ type: 'subscribe', id: 1, subs: [{ sub: 1, table: 'people', tail: 'yes' }] });
    expect((await raw.reply(1)).code).toBe('BAD_MESSAGE');
    // '*' is no table: only a tail may name it.
    raw.send({ type: 'subscribe', id: 2, subs: [{ sub: 2, table: '*' }] });
    expect((await raw.next((message) => message.type === 'error' && message.sub === 2)).code).toBe('INVALID_TABLE_NAME');
    raw.close();
  });
});
