import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { open, type Database } from 'rxkv';
import { serve, type SyncServer } from 'rxkv/server';
import type { RemoteDatabase } from 'rxkv/client';
import { tempDir, removeTempDirs } from './helpers/temp.js';
import { client, eventually, RawClient } from './helpers/sync.js';

const RECORDS = 2000;
const CHANGES = 200;

describe('serve(db, { perMessageDeflate }): compressed messages', () => {
  let db: Database;
  const closers: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    db = await open(tempDir());
    await db.transaction((tx) => {
      for (let i = 0; i < RECORDS; i++) tx.table('t').put(`user/${i}`, { name: `user ${i}`, email: `user${i}@example.com`, roles: ['reader'], visits: 0 });
    });
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await db.close();
    removeTempDirs();
  });

  /** The database served on an HTTP server of our own, whose sockets count the bytes sent. */
  async function served(perMessageDeflate?: boolean): Promise<{ url: string; bytesSent: () => number }> {
    const http: Server = createServer();
    const sockets: Socket[] = [];
    http.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const server: SyncServer = await serve(db, { server: http, ...(perMessageDeflate === undefined ? {} : { perMessageDeflate }) });
    closers.push(() => new Promise((resolve) => http.close(resolve)), () => server.close());
    const { port } = http.address() as { port: number };
    return { url: `ws://127.0.0.1:${port}`, bytesSent: () => sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0) };
  }

  async function extensions(url: string): Promise<string> {
    const raw = await RawClient.open(url);
    closers.push(async () => raw.close());
    return raw.socket.extensions;
  }

  /** A replica of the whole table that takes its snapshot, then CHANGES merges: the bytes the server sent it. */
  async function replicate(url: string, bytesSent: () => number): Promise<number> {
    const before = bytesSent();
    const remote: RemoteDatabase = client(url);
    closers.push(() => remote.close());
    let replica = new Map<string, unknown>();
    remote.table('t').state$.subscribe((snapshot) => (replica = new Map(snapshot)));
    await eventually(() => replica.size === RECORDS, 'the snapshot');
    for (let i = 0; i < CHANGES; i++) await db.table('t').merge(`user/${i}`, { visits: i + 1, roles: ['reader', 'writer'] });
    const expected = JSON.stringify([...db.table('t').snapshot()]);
    await eventually(() => JSON.stringify([...replica]) === expected, 'the replica to equal the database');
    return bytesSent() - before;
  }

  it('should be off by default: a client that offers it is not granted it', async () => {
    const { url } = await served();
    expect(await extensions(url)).toBe('');
  });

  it('should, when on, compress what the server sends, and the replica end up the same', async () => {
    const plain = await served(false);
    const compressed = await served(true);
    expect(await extensions(plain.url)).toBe('');
    expect(await extensions(compressed.url)).toContain('permessage-deflate');
    const plainBytes = await replicate(plain.url, plain.bytesSent);
    const compressedBytes = await replicate(compressed.url, compressed.bytesSent);
    // 2,000 records of repetitive JSON and 200 changes: far fewer bytes compressed.
    expect(compressedBytes).toBeLessThan(plainBytes / 4);
  });

  it('should refuse a perMessageDeflate that is not true or false with INVALID_ARGUMENT, leaving the database as it was', async () => {
    for (const perMessageDeflate of ['yes', 1, null, {}]) {
      await expectAsync(serve(db, { perMessageDeflate: perMessageDeflate as never })).toBeRejectedWith(
        jasmine.objectContaining({ code: 'INVALID_ARGUMENT', message: 'serve: perMessageDeflate must be true or false.' }),
      );
    }
    expect(db.table('t').snapshot().size).toBe(RECORDS);
  });
});
