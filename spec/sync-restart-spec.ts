import { open, type Database } from 'rxkv';
import { serve, type SyncServer } from 'rxkv/server';
import type { Change, RemoteDatabase } from 'rxkv/client';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually } from './helpers/sync.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const RECORDS = 20_000;

describe('sync: a server restarted on the same database', () => {
  let db: Database | undefined;
  let server: SyncServer | undefined;
  let proxy: TcpProxy | undefined;
  let remote: RemoteDatabase | undefined;

  afterEach(async () => {
    await remote?.close();
    await proxy?.close();
    await server?.close();
    if (db !== undefined && !db.closed) await db.close();
    remote = proxy = server = db = undefined;
    removeTempDirs();
  });

  async function restart(dir: string, port: number, between: (db: Database) => Promise<void>): Promise<void> {
    await server!.close();
    await db!.close();
    db = await open(dir);
    await between(db);
    server = await serve(db, { port });
  }

  it(`should resume a replica of a ${RECORDS}-record table with what changed meanwhile: a small fraction of the snapshot's bytes`, async () => {
    const dir = tempDir();
    db = await open(dir);
    await db.transaction((tx) => {
      for (let i = 0; i < RECORDS; i++) tx.table('t').put(`k${String(i).padStart(5, '0')}`, { i, text: 'some text to make a record of a realistic size' });
    });
    server = await serve(db);
    const port = server.port;
    proxy = await TcpProxy.start(port);
    remote = client(`ws://127.0.0.1:${proxy.port}`);
    const table = remote.table('t');
    const changes: Change[] = [];
    table.changes().subscribe((change) => changes.push(change));
    await eventually(() => table.size === RECORDS, 'the snapshot', 20_000);
    const snapshotBytes = proxy.bytesFromServer;

    // While the server is down: 3 records change, 2 are deleted, 1 is created, 1 deleted and created again.
    await restart(dir, port, async (reopened) => {
      const t = reopened.table('t');
      for (const key of ['k00001', 'k10000', 'k19999']) await t.merge(key, { changed: true });
      await t.delete('k00002');
      await t.delete('k00003');
      await t.put('new', { i: -1 });
      await t.delete('k00004');
      await t.put('k00004', { again: true });
    });
    const before = proxy.bytesFromServer;
    await eventually(() => table.has('new') && !table.has('k00003') && table.get('k00004') !== undefined && 'again' in (table.get('k00004') as object), 'the resume', 10_000);
    const resumeBytes = proxy.bytesFromServer - before;

    expect([...table.entries()]).toEqual([...db!.table('t').entries()]);
    expect(changes.map((change) => `${change.op} ${change.key}`).sort()).toEqual(
      ['merge k00001', 'merge k10000', 'merge k19999', 'delete k00002', 'delete k00003', 'new new', 'merge k00004'].sort(),
    );
    expect(resumeBytes).toBeLessThan(snapshotBytes / 100);
    console.log(`\n[restart] resume of a ${RECORDS}-record replica after a restart: ${resumeBytes} bytes, against ${snapshotBytes} for its snapshot`);
  }, 60_000);

  for (const keep of [{ maxBytes: 0 }, { maxAge: 1 }]) {
  it(`should send a full snapshot to a position older than the deletes kept (keepDeletes ${JSON.stringify(keep)})`, async () => {
    const dir = tempDir();
    db = await open(dir, { keepDeletes: keep });
    for (let i = 0; i < 10; i++) await db.table('t').put(`k${i}`, { i });
    server = await serve(db);
    const port = server.port;
    proxy = await TcpProxy.start(port);
    remote = client(`ws://127.0.0.1:${proxy.port}`);
    const table = remote.table('t');
    table.state$.subscribe();
    await eventually(() => table.size === 10, 'the snapshot');
    const snapshotBytes = proxy.bytesFromServer;
    await server.close();
    await db.close();
    db = await open(dir, { keepDeletes: keep });
    await db.table('t').delete('k5');
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Forgotten with the next commit (too many bytes, or too old): the position can no longer be told apart.
    await db.table('t').put('k0', { i: 100 });
    const before = proxy.bytesFromServer;
    server = await serve(db, { port });
    await eventually(() => !table.has('k5') && (table.get('k0') as { i: number }).i === 100, 'the snapshot after the restart');
    expect([...table.entries()]).toEqual([...db.table('t').entries()]);
    // All of the table came again, not just what changed.
    expect(proxy.bytesFromServer - before).toBeGreaterThan(snapshotBytes * 0.7);
  });
  }
});
