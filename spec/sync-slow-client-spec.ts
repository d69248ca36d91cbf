import type { RemoteDatabase } from 'rxkv/client';
import { removeTempDirs } from './helpers/temp.js';
import { ServerProcess } from './helpers/server-process.js';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually, until } from './helpers/sync.js';

const MB = 1024 * 1024;

describe('sync: a client that stops reading', () => {
  let server: ServerProcess;
  let proxy: TcpProxy;
  let remote: RemoteDatabase;

  afterEach(async () => {
    await remote.close();
    await proxy.close();
    await server.stop();
    removeTempDirs();
  });

  async function stalledClient(options: object): Promise<Map<string, unknown>> {
    server = await ServerProcess.start(options);
    proxy = await TcpProxy.start(server.port);
    remote = client(`ws://127.0.0.1:${proxy.port}`);
    const replica = new Map<string, unknown>();
    remote.table('t').state$.subscribe((snapshot) => {
      replica.clear();
      for (const [key, value] of snapshot) replica.set(key, value);
    });
    await until(remote, 'open');
    await server.ask({ write: { count: 10, keys: 10, bytes: 10 } });
    await eventually(() => replica.size === 10, 'the first records');
    proxy.stall(true);
    return replica;
  }

  async function converged(replica: Map<string, unknown>): Promise<void> {
    const { entries } = await server.ask<{ entries: [string, unknown][] }>({ entries: 't' });
    const expected = JSON.stringify(entries);
    await eventually(() => JSON.stringify([...replica]) === expected, 'the replica to equal the server', 15_000);
  }

  it("should hold the server's memory bounded while it stalls (changes squashed per record), and catch it up after", async () => {
    const options = { maxBufferedBytes: 256 * 1024, stallTimeout: 120_000, logBytes: 4 * MB };
    // 64 MB of changes to 100 records of 32 kB; loopback's socket buffers (here up to 32 MB to
    // receive, 4 MB to send) take the first of it, the server has to hold on to the rest.
    const writes = { write: { count: 2000, keys: 100, bytes: 32 * 1024 } };
    const control = await ServerProcess.start(options); // the same writes, with no client
    const start = await control.memory();
    await control.ask(writes);
    const withoutClient = (await control.memory()) - start;
    await control.stop();

    const replica = await stalledClient(options);
    const before = await server.memory();
    await server.ask(writes);
    const withStalledClient = (await server.memory()) - before;
    expect(await server.ask({ connections: true })).toEqual({ connections: 1 }); // squashing, not disconnected yet
    // What waits for the client is at most two versions of each record (6.4 MB) and maxBufferedBytes.
    expect(withStalledClient - withoutClient).toBeLessThan(8 * MB);
    proxy.stall(false);
    await converged(replica);
  }, 60_000);

  /** A stalled client, then 64 MB of changes (more than the kernel's socket buffers hold): disconnected, then resumed. */
  async function disconnectedThenResumed(options: object, write: object): Promise<void> {
    const replica = await stalledClient({ maxBufferedBytes: 64 * 1024, stallTimeout: 300, ...options });
    await server.ask({ write: { count: 2000, keys: 50, bytes: 32 * 1024, ...write } });
    const deadline = Date.now() + 10_000;
    while ((await server.ask<{ connections: number }>({ connections: true })).connections > 0) {
      if (Date.now() > deadline) throw new Error('the stalled client was not disconnected');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    proxy.stall(false);
    await until(remote, 'open', 10_000);
    await converged(replica);
  }

  it('should disconnect it once it stays behind past stallTimeout; it resumes when it reads again', async () => {
    await disconnectedThenResumed({}, {});
  }, 60_000);

  it('should do the same with perMessageDeflate on (what waits to be compressed counts as waiting)', async () => {
    // Changes that compression does not shrink, or the kernel's buffers would hold them all.
    await disconnectedThenResumed({ perMessageDeflate: true }, { incompressible: true });
  }, 60_000);
});
