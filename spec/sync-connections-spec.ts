import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerStats } from 'rxkv/client';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const SERVER = fileURLToPath(new URL('./helpers/connections-server-child.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./helpers/connections-client-child.js', import.meta.url));

const WANTED = 10_000;
/** Client processes: the connections are split between them. */
const CLIENTS = 2;
/** Connections being opened (or closed) at once, over all the client processes: well under the listen backlog (511). */
const CONCURRENCY = 200;
/**
 * Connections opened and closed before the first measure, so that what the server makes lazily is
 * there already: the change feed, node's pool of HTTP parsers, and V8's optimized code of the hot
 * paths with its deoptimization data (in the heap, not only in code space). After a warm-up of 200,
 * heap snapshots showed the heap 5-8% up after 10,000 connections, 0.7 MiB of which was optimized
 * code and its metadata alone; after one of 2000, within 1-2%.
 */
const MOST_WARM_UP = 2000;
/** File descriptors a process needs besides its connections (RocksDB's files, the IPC channel, stdio, node's own). */
const FD_SLACK = 512;
const KiB = 1024;
const MiB = 1024 * KiB;

/** The soft limit of open files of this process (its children inherit it). */
function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((each) => each.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === 'unlimited') return Infinity;
    if (soft !== undefined && Number.isInteger(Number(soft))) return Number(soft);
  } catch {
    // not Linux: assume enough
  }
  return Infinity;
}

/** The ephemeral ports the clients' connections take theirs from. */
function ephemeralPorts(): number {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return high! - low! + 1;
  } catch {
    // not Linux
  }
  return Infinity;
}

/** As many connections as asked for, or as the machine allows: the server's process holds one fd per connection. */
const FDS = openFilesLimit();
const PORTS = ephemeralPorts();
const N = Math.floor(Math.min(WANTED, FDS - FD_SLACK, PORTS - MOST_WARM_UP - 1000) / CLIENTS) * CLIENTS;
const WARM_UP = Math.floor(Math.min(MOST_WARM_UP, N / 5) / CLIENTS) * CLIENTS;
const LIMITED = N < WANTED ? ` (not ${WANTED}: ${FDS} open files allowed, ${PORTS} ephemeral ports)` : '';
if (LIMITED !== '') console.log(`sync-connections-spec: ${N} connections${LIMITED}`);

/** A forked helper, asked one thing at a time over IPC. */
class Child {
  private constructor(private readonly process: ChildProcess) {}

  static async start(module: string, args: string[], execArgv: string[] = []): Promise<{ child: Child; hello: any }> {
    const process = fork(module, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const child = new Child(process);
    try {
      return { child, hello: await child.next(30_000) };
    } catch (error) {
      process.kill('SIGKILL'); // not handed out: nobody else would stop it
      throw error;
    }
  }

  async ask<T = any>(message: object, ms = 60_000): Promise<T> {
    const answer = this.next(ms);
    this.process.send(message);
    const value = await answer;
    if (value?.error !== undefined) throw new Error(`child: ${value.error}`);
    return value as T;
  }

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Asks it to stop; kills it when it does not within `ms`. */
  async stop(ms = 5000): Promise<void> {
    if (!this.alive) return;
    const exited = once(this.process, 'exit');
    const killer = setTimeout(() => this.process.kill('SIGKILL'), ms);
    try {
      if (this.process.connected) this.process.send({ stop: true });
      else this.process.kill('SIGKILL');
    } catch {
      this.process.kill('SIGKILL');
    }
    await exited;
    clearTimeout(killer);
  }

  private next(ms: number): Promise<any> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no answer from the child within ${ms} ms`)), ms);
      const onMessage = (message: unknown): void => done(undefined, message);
      const onExit = (code: number | null, signal: string | null): void => done(new Error(`the child exited (${code ?? signal})`));
      const done = (error: Error | undefined, message?: unknown): void => {
        clearTimeout(timer);
        this.process.off('message', onMessage);
        this.process.off('exit', onExit);
        if (error === undefined) resolve(message);
        else reject(error);
      };
      this.process.on('message', onMessage);
      this.process.on('exit', onExit);
    });
  }
}

interface Heap {
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  /** Of heapUsed, compiled code. */
  code: number;
}

interface Cpu {
  user: number;
  system: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

describe(`sync: ${N} connections${LIMITED}`, () => {
  let server: Child | undefined;
  let clients: Child[] = [];

  afterEach(async () => {
    // Clients first (a client child that exits closes its connections), then the server; each is
    // killed if it does not stop in time.
    for (const client of clients.splice(0)) if (client.alive) await client.stop(1000);
    await server?.stop();
    server = undefined;
    removeTempDirs();
  });

  async function connections(): Promise<number> {
    return (await server!.ask<{ connections: number }>({ connections: true })).connections;
  }

  async function noConnections(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (let n = await connections(); n > 0; n = await connections()) {
      if (Date.now() > deadline) throw new Error(`the server still counts ${n} connections ${ms} ms after the clients closed them`);
      await sleep(50);
    }
  }

  /** Opens `total` connections, split between the client processes. */
  async function openAll(total: number, on: Child[]): Promise<number> {
    const answers = await Promise.all(on.map((client) => client.ask<{ open: number; ms: number }>({ open: { count: total / on.length, concurrency: CONCURRENCY / on.length } })));
    return Math.max(...answers.map((answer) => answer.ms));
  }

  async function closeAll(on: Child[]): Promise<number> {
    const answers = await Promise.all(on.map((client) => client.ask<{ closed: number; ms: number }>({ close: { concurrency: CONCURRENCY / on.length } })));
    return Math.max(...answers.map((answer) => answer.ms));
  }

  async function heap(): Promise<Heap> {
    return server!.ask<Heap>({ heap: true });
  }

  /** CPU time of the server and of the clients (summed), in ms. */
  async function cpu(): Promise<{ server: number; clients: number }> {
    const ms = ({ user, system }: Cpu): number => (user + system) / 1000;
    const [mine, ...theirs] = await Promise.all([server!, ...clients].map((child) => child.ask<Cpu>({ cpu: true })));
    return { server: ms(mine!), clients: theirs.reduce((sum, each) => sum + ms(each), 0) };
  }

  it("should open them (each welcomed, with a subscription to one key) and close them, and the server's heap come back within 10% of before", async () => {
    if (N < 1000) pending(`this machine allows only ${N} connections${LIMITED}: too few to measure a leak against the server's own heap`);
    const started = Date.now();
    const dir = tempDir('rxkv-connections');
    const { child, hello } = await Child.start(SERVER, [join(dir, 'db'), String(N)], ['--expose-gc']);
    server = child;
    const url = `ws://127.0.0.1:${(hello as { port: number }).port}`;
    for (let i = 0; i < CLIENTS; i++) clients.push((await Child.start(CLIENT, [url, String((i * N) / CLIENTS)])).child);

    // Warm-up (see MOST_WARM_UP): what the server makes on its first connections is there before the first measure.
    await openAll(WARM_UP, clients);
    expect(await connections()).toBe(WARM_UP);
    await closeAll(clients);
    await noConnections(10_000);
    await sleep(1500); // past the sessions' close grace (1 s)
    const before = await heap();

    const cpuBefore = await cpu();
    const openMs = await openAll(N, clients);
    const cpuOpen = await cpu();
    const checks = await Promise.all(clients.map((client) => client.ask<{ open: number; lost: number }>({ check: true })));
    expect(checks.reduce((sum, check) => sum + check.open, 0)).withContext('connections open on the clients').toBe(N);
    expect(checks.reduce((sum, check) => sum + check.lost, 0)).withContext('connections dropped after they opened').toBe(0);
    expect(await connections()).withContext("the server's connections").toBe(N);
    const { stats } = await clients[0]!.ask<{ stats: ServerStats }>({ stats: true });
    expect(stats.connections).withContext('inspect: connections').toBe(N);
    expect(stats.subscriptions).withContext('inspect: subscriptions').toEqual({ t: N });
    const open = await heap();

    const cpuClose = await cpu();
    const closeMs = await closeAll(clients);
    const drainStarted = Date.now();
    await noConnections(30_000);
    const drainMs = Date.now() - drainStarted;
    const cpuClosed = await cpu();
    await sleep(1500); // past the sessions' close grace (1 s)
    const after = await heap();

    const perConnection = (open.heapUsed - before.heapUsed) / N;
    const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      `sync-connections-spec: ${N} connections${LIMITED}: opened in ${seconds(openMs)} (CPU: server ${seconds(cpuOpen.server - cpuBefore.server)}, ` +
        `clients ${seconds(cpuOpen.clients - cpuBefore.clients)}), closed in ${seconds(closeMs)} (CPU: server ${seconds(cpuClosed.server - cpuClose.server)}, ` +
        `clients ${seconds(cpuClosed.clients - cpuClose.clients)}; the server at 0 connections ${drainMs} ms after); ` +
        `server heapUsed before ${mib(before.heapUsed)}, open ${mib(open.heapUsed)} (${(perConnection / KiB).toFixed(1)} KiB a connection), ` +
        `after ${mib(after.heapUsed)} (${((after.heapUsed / before.heapUsed - 1) * 100).toFixed(1)}%; code space ${mib(before.code)}, ${mib(open.code)}, ${mib(after.code)}); ` +
        `external ${mib(before.external)}, ${mib(open.external)}, ${mib(after.external)}; rss after ${mib(after.rss)}; ${seconds(Date.now() - started)} in all`,
    );
    // The measure can fail: open connections take the server's heap well up (a session, its socket
    // and route each: about 5 KiB), so that a leak of a fraction of it is past the bound. (Checked:
    // with the routes of closed sessions left in place, the heap stayed 244% up.)
    expect(open.heapUsed - before.heapUsed).withContext('heap taken by the open connections').toBeGreaterThan(N * 2 * KiB);
    expect(after.heapUsed).withContext('heap after they closed').toBeLessThanOrEqual(before.heapUsed * 1.1);
    if (after.heapUsed > before.heapUsed * 1.1) {
      // What holds it: open the snapshot in Chrome's DevTools (Memory), compare with the server's objects.
      const { snapshot } = await server.ask<{ snapshot: string }>({ snapshot: join(tmpdir(), `rxkv-connections-${Date.now()}.heapsnapshot`) }, 120_000);
      console.log(`sync-connections-spec: the heap did not come back; heap snapshot kept at ${snapshot}`);
    }
  }, 180_000);
});
