import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';

/** Debian's `nats-server` (installed by .ci/run, in /usr/sbin: not on every user's PATH). */
const NATS_SERVER = process.env['NATS_SERVER'] ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

/** One server of a test cluster: its client URL, and what kills and restarts it. */
export interface NatsServer {
  readonly name: string;
  readonly url: string;
  readonly running: boolean;
  /** `SIGKILL` by default: the process dies without a word, as in a crash. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and store. */
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  readonly urls: string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts `size` clustered `nats-server` processes with JetStream on loopback ports, each with
 * its store in a temporary directory, and resolves once JetStream answers (a meta leader is
 * elected). `stop()` kills them and removes their stores.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const root = mkdtempSync(join(tmpdir(), 'rxkv-nats-')); // its own: the specs' temp dirs go after each spec
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })));
  const routes = ports.map(({ route }) => `nats://127.0.0.1:${route}`).join(',');
  const servers = ports.map(({ client, route }, i) => {
    const name = `n${i + 1}`;
    const store = join(root, name);
    mkdirSync(store, { recursive: true });
    let child: ChildProcess | null = null;
    const server: NatsServer = {
      name,
      url: `nats://127.0.0.1:${client}`,
      get running() {
        return child !== null;
      },
      async start() {
        if (child !== null) return;
        const args = ['-a', '127.0.0.1', '-p', String(client), '-n', name, '-js', '-sd', store, '--cluster_name', 'rxkv', '--cluster', `nats://127.0.0.1:${route}`, '--routes', routes];
        const started = spawn(NATS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let log = '';
        started.stderr!.setEncoding('utf8').on('data', (text: string) => (log = (log + text).slice(-4000)));
        child = started;
        // A spec run that ends (or fails) without stop() leaves no server behind.
        const reap = (): void => void started.kill('SIGKILL');
        process.once('exit', reap);
        started.once('exit', () => {
          process.off('exit', reap);
          if (child === started) child = null;
        });
        await new Promise<void>((resolve, reject) => {
          const check = setInterval(() => {
            if (log.includes('Server is ready')) {
              clearInterval(check);
              resolve();
            } else if (child !== started) {
              clearInterval(check);
              reject(new Error(`nats-server ${name} exited: ${log}`));
            }
          }, 20);
        });
      },
      async kill(signal = 'SIGKILL') {
        const running = child;
        if (running === null) return;
        const exited = new Promise((resolve) => running.once('exit', resolve));
        running.kill(signal);
        await exited;
      },
    };
    return server;
  });
  await Promise.all(servers.map((server) => server.start()));
  const urls = servers.map((server) => server.url);
  await untilJetStream(urls);
  return {
    servers,
    urls,
    async stop() {
      await Promise.all(servers.map((server) => server.kill()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Waits until the cluster's JetStream answers (its meta leader is elected). */
async function untilJetStream(urls: string[]): Promise<void> {
  const nc = await connect({ servers: urls });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await (await nc.jetstreamManager({ timeout: 1000 })).getAccountInfo();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await nc.close();
  }
}
