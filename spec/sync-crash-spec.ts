import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Json } from 'rxkv';
import type { RemoteDatabase } from 'rxkv/client';
import { Random } from './helpers/random.js';
import { client, eventually } from './helpers/sync.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const CHILD = fileURLToPath(new URL('./crash/sync-server.js', import.meta.url));
const SEED = 20261202;
const CLIENTS = 4;
const WRITES = 400; // per client
const WINDOW = 6; // writes in flight per client
const KILLS = 3;

interface ServerState {
  seq: number;
  entries: [string, Json][];
}

async function startServer(dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(CHILD, [dir, String(port)]);
  const [ready] = (await once(child, 'message')) as [{ port: number }];
  return { child, port: ready.port };
}

async function stateOf(child: ChildProcess): Promise<ServerState> {
  const answer = once(child, 'message');
  child.send({ state: true });
  return ((await answer) as [ServerState])[0];
}

describe('sync: the server killed with kill -9 while clients write', () => {
  const remotes: RemoteDatabase[] = [];
  let child: ChildProcess | undefined;

  afterEach(async () => {
    for (const remote of remotes.splice(0)) await remote.close();
    child?.kill('SIGKILL');
    removeTempDirs();
  });

  it(`should keep every write a client saw resolve, apply none twice, and reconverge every client (seed ${SEED})`, async () => {
    const random = new Random(SEED);
    const dir = tempDir();
    let server = await startServer(dir, 0);
    child = server.child;
    const port = server.port;
    const resolved = new Map<string, number>(); // record key -> the seq its write resolved with

    // Each write is a transaction of its own record and a record every client writes: a write
    // applied twice would commit once more, and the shared record would go back to it.
    const writers = Array.from({ length: CLIENTS }, async (_, c) => {
      const remote = client(`ws://127.0.0.1:${port}`, { writeTimeout: 0, reconnect: { minDelay: 5, maxDelay: 100 } });
      remotes.push(remote);
      remote.table('t').state$.subscribe();
      const inFlight = new Set<Promise<void>>();
      for (let i = 0; i < WRITES; i++) {
        const key = `c${c}-${String(i).padStart(4, '0')}`;
        const write = remote
          .transaction((tx) => {
            tx.table('t').put(key, { c, i });
            tx.table('t').merge('shared', { [`c${c}`]: i });
          })
          .then((seq) => void resolved.set(key, seq));
        inFlight.add(write);
        void write.finally(() => inFlight.delete(write));
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    });

    const atKills: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // Each kill falls at a seeded point of the run: once a share of the writes resolved.
      const at = Math.floor(((kill + random.next()) / (KILLS + 1)) * CLIENTS * WRITES);
      await eventually(() => resolved.size >= at, `${at} writes to resolve`, 30_000);
      atKills.push(resolved.size);
      server.child.kill('SIGKILL');
      await once(server.child, 'exit');
      await new Promise((resolve) => setTimeout(resolve, random.int(100)));
      server = await startServer(dir, port);
      child = server.child;
    }
    await Promise.all(writers);
    console.log(`\n[sync-crash] killed with ${atKills.join(', ')} of ${CLIENTS * WRITES} writes resolved`);
    // The kills fell while clients were writing.
    expect(atKills.at(-1)!).toBeLessThan(CLIENTS * WRITES);

    const state = await stateOf(server.child);
    const records = new Map(state.entries);
    // Every write resolved, and every one is there.
    expect(resolved.size).toBe(CLIENTS * WRITES);
    for (const [key] of resolved) expect(records.has(key)).withContext(key).toBeTrue();
    // One commit per write: none was applied twice (nothing else writes).
    expect(state.seq).toBe(CLIENTS * WRITES);
    const seqs = new Set(resolved.values());
    expect(seqs.size).toBe(CLIENTS * WRITES);
    // The shared record holds each client's last write.
    expect(records.get('shared')).toEqual(Object.fromEntries(Array.from({ length: CLIENTS }, (_, c) => [`c${c}`, WRITES - 1])));
    // Every replica converges on the server's table.
    for (const remote of remotes) {
      const table = remote.table('t');
      await eventually(() => table.size === records.size && table.get('shared') !== undefined && JSON.stringify(table.get('shared')) === JSON.stringify(records.get('shared')), 'a replica to converge', 10_000);
      expect([...table.entries()]).toEqual(state.entries.sort(([a], [b]) => (a < b ? -1 : 1)));
    }
  }, 60_000);
});
