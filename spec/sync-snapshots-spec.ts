import type { RemoteDatabase, Status } from 'rxkv/client';
import { removeTempDirs } from './helpers/temp.js';
import { ServerProcess } from './helpers/server-process.js';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually, startServer, stopServer, type Served } from './helpers/sync.js';

const MIB = 1024 * 1024;

/** Follows a table's replica through `state$`: how many records it holds. */
function follow(remote: RemoteDatabase, table: string): { size: number } {
  const seen = { size: 0 };
  remote.table(table).state$.subscribe((snapshot) => (seen.size = snapshot.size));
  return seen;
}

describe('sync: large snapshots', () => {
  const clients: RemoteDatabase[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((remote) => remote.close()));
    removeTempDirs();
  });

  describe('a table larger than a message may be', () => {
    let served: Served | undefined;
    let proxy: TcpProxy | undefined;

    afterEach(async () => {
      await proxy?.close();
      proxy = undefined;
      await stopServer(served);
      served = undefined;
    });

    it("should reach a Node client in pages under ws's 100 MiB message limit, without a reconnect", async () => {
      served = await startServer({}, { durability: 'memory' });
      const table = served.db.table('big');
      // 105 records of 1 MiB: one 105 MiB message would be over `ws`'s default maxPayload.
      await Promise.all(Array.from({ length: 105 }, (_, i) => table.put(`r${String(i).padStart(3, '0')}`, { i, text: String.fromCharCode(97 + (i % 26)).repeat(MIB) })));
      proxy = await TcpProxy.start(served.server.port);
      const largest = { bytes: 0 };
      proxy.cutAfter((text) => {
        largest.bytes = Math.max(largest.bytes, text.length);
        return false;
      });
      const remote = client(`ws://127.0.0.1:${proxy.port}`);
      clients.push(remote);
      const states: Status[] = [];
      remote.status$.subscribe((status) => states.push(status));
      const seen = follow(remote, 'big');
      await eventually(() => seen.size === 105, 'every record', 60_000);
      expect(states.map((status) => status.state)).toEqual(['connecting', 'open']);
      expect(largest.bytes).toBeLessThan(2 * MIB); // a page is one record here
      expect(remote.table('big').get('r104')).toEqual(table.get('r104')!);
    }, 90_000);

    it('should send records of a snapshot in several pages that the replica applies as one', async () => {
      served = await startServer({ snapshotPageBytes: 1024 }, { durability: 'memory' });
      const table = served.db.table('t');
      await Promise.all(Array.from({ length: 300 }, (_, i) => table.put(`k${String(i).padStart(3, '0')}`, { i, pad: 'p'.repeat(50) })));
      proxy = await TcpProxy.start(served.server.port);
      let pages = 0;
      proxy.cutAfter((text) => {
        if (text.startsWith('{"type":"snapshot"')) pages++;
        return false;
      });
      const remote = client(`ws://127.0.0.1:${proxy.port}`);
      clients.push(remote);
      const sizes: number[] = [];
      remote.table('t').state$.subscribe((snapshot) => sizes.push(snapshot.size));
      await eventually(() => sizes.includes(300), 'the snapshot');
      expect(pages).toBeGreaterThan(10);
      expect(sizes).toEqual([300]); // never a part of it
      expect([...remote.table('t').entries()]).toEqual([...table.entries()]);
    });
  });

  describe('the server while it sends them', () => {
    let server: ServerProcess | undefined;

    afterEach(async () => {
      await server?.stop();
      server = undefined;
    });

    it("should keep the server's event loop turning and acknowledge durable writes while five clients take a 200,000-record snapshot", async () => {
      server = await ServerProcess.start({});
      await server.ask({ fill: { table: 'big', count: 200_000, bytes: 64 } });
      await server.ask({ probe: 'start' });
      const started = Date.now();
      const followed = Array.from({ length: 5 }, () => {
        const remote = client(`ws://127.0.0.1:${server!.port}`);
        clients.push(remote);
        return follow(remote, 'big');
      });
      await eventually(() => followed.every((seen) => seen.size === 200_000), 'five snapshots', 60_000);
      const took = Date.now() - started;
      const probe = await server.ask<{ maxDelay: number; p99Delay: number; writes: number; slowestWrite: number }>({ probe: 'stop' });
      console.log(
        `\n[snapshots] 5 x 200,000 records (19 MiB) in ${took} ms: server event loop delay max ${probe.maxDelay.toFixed(1)} ms, p99 ${probe.p99Delay.toFixed(1)} ms; ` +
          `${probe.writes} durable writes acknowledged meanwhile, the slowest in ${probe.slowestWrite.toFixed(1)} ms`,
      );
      expect(probe.maxDelay).toBeLessThan(100); // before pages and slices: 1.5 s
      expect(probe.writes).toBeGreaterThan(10);
      expect(probe.slowestWrite).toBeLessThan(200);
    }, 90_000);
  });
});
