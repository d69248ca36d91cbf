import { open, type Database, type Durability } from 'rxkv';
import { serve, type SyncServer } from 'rxkv/server';
import type { RemoteDatabase } from 'rxkv/client';
import { RawClient, client, eventually } from './helpers/sync.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

describe('sync: the history a replica follows', () => {
  const dbs: Database[] = [];
  const servers: SyncServer[] = [];
  const remotes: RemoteDatabase[] = [];

  afterEach(async () => {
    for (const remote of remotes.splice(0)) await remote.close();
    for (const server of servers.splice(0)) await server.close();
    for (const db of dbs.splice(0)) if (!db.closed) await db.close();
    removeTempDirs();
  });

  async function database(durability: Durability, prefix: string, count: number): Promise<Database> {
    const db = await open(tempDir(), { durability });
    dbs.push(db);
    for (let i = 0; i < count; i++) await db.table('t').put(`${prefix}${i}`, { i });
    return db;
  }

  async function served(db: Database, port = 0): Promise<SyncServer> {
    const server = await serve(db, { port });
    servers.push(server);
    return server;
  }

  for (const durability of ['sync', 'memory'] as const) {
    it(`should never show a record of the first database once another ('${durability}') is served at the same URL, even where their seqs overlap`, async () => {
      const first = await database(durability, 'a', 5); // seq 5
      const firstServer = await served(first);
      const port = firstServer.port;
      const remote = client(`ws://127.0.0.1:${port}`);
      remotes.push(remote);
      const table = remote.table('t');
      const shown: string[][] = [];
      table.state$.subscribe((snapshot) => shown.push([...snapshot.keys()]));
      await eventually(() => table.size === 5, "the first database's records");

      // The second database is served from its seq 5 on, then writes 3 more: its log holds seqs 6 to
      // 8, which a resume from the first database's seq 5 would replay on top of a0..a4.
      const second = await database(durability, 'b', 5);
      await firstServer.close();
      await served(second, port);
      for (let i = 5; i < 8; i++) await second.table('t').put(`b${i}`, { i });
      expect(second.history).not.toBe(first.history);

      await eventually(() => table.size === 8 && table.has('b7'), "the second database's records");
      expect([...table.keys()]).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7']);
      for (const keys of shown) {
        const mixed = keys.some((key) => key.startsWith('a')) && keys.some((key) => key.startsWith('b'));
        expect(mixed).withContext(`a replica state mixing both: ${keys.join(' ')}`).toBeFalse();
      }
      expect(remote.status.state).toBe('open');
    });
  }

  it("should show a replica's changes across the swap as changes: the first's records deleted, the second's new", async () => {
    const first = await database('sync', 'a', 3);
    const firstServer = await served(first);
    const port = firstServer.port;
    const remote = client(`ws://127.0.0.1:${port}`);
    remotes.push(remote);
    const seen: string[] = [];
    remote.table('t').changes({ initial: true }).subscribe((change) => seen.push(`${change.op} ${change.key}`));
    await eventually(() => seen.length === 3, 'the initial records');
    const second = await database('sync', 'b', 4);
    await firstServer.close();
    await served(second, port);
    await eventually(() => seen.length === 3 + 3 + 4, 'the swap as changes');
    expect(seen.slice(3).sort()).toEqual(['delete a0', 'delete a1', 'delete a2', 'new b0', 'new b1', 'new b2', 'new b3']);
  });

  it('should send a whole snapshot for a position in the future of its history, or in another history', async () => {
    const db = await database('sync', 'k', 3);
    const server = await served(db);
    const raw = await RawClient.hello(`ws://127.0.0.1:${server.port}`);
    for (const [id, position] of [[1, { since: db.seq + 100, history: db.history }], [2, { since: 1, history: 'another' }], [3, { since: 1, history: db.history }]] as const) {
      raw.send({ type: 'subscribe', id, subs: [{ sub: id, table: 't' }], ...position });
      await raw.reply(id);
    }
    const snapshots = raw.received.filter((message) => message.type === 'snapshot');
    expect(snapshots.map((snapshot) => [snapshot.sub, snapshot.partial === true, snapshot.records.length])).toEqual([
      [1, false, 3],
      [2, false, 3],
      [3, true, 2], // the one position it can tell: what changed since seq 1
    ]);
    raw.close();
  });
});
