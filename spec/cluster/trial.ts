/**
 * A cluster trial: three rxkv nodes in child processes write at once through a three-server NATS
 * JetStream cluster; in the middle the stream's leader server is killed with SIGKILL (and started
 * again), later one rxkv node is (and started again on its directory). At the end every node's
 * directory is read and the trial reports what the checks found. Used by cluster-faults-spec (in
 * `npm test`) and scripts/soak-cluster.js (longer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { open, type Database } from 'rxkv';
import { startNatsCluster } from '../helpers/nats-cluster.js';

const CHILD = fileURLToPath(new URL('./node-child.js', import.meta.url));

export interface TrialOptions {
  readonly root: string;
  readonly seed: number;
  /** Writes per node (the restarted node makes half as many more). */
  readonly ops: number;
  readonly window: number;
  /** Kill the stream's leader server after this many acknowledgements in all, the node after this many. */
  readonly killServerAt: number;
  readonly killNodeAt: number;
}

export interface TrialReport {
  readonly acknowledged: number;
  /** Writes issued by the killed node and unanswered when it died: each may or may not be applied. */
  readonly unknown: number;
  readonly failed: Record<string, number>;
  readonly killedServer: string;
  readonly problems: string[];
  /** What the same checks find when node 2's change stream misses one change: the negative control. */
  readonly control: string[];
  readonly seq: number;
}

interface Child {
  readonly name: string;
  readonly dir: string;
  process: ChildProcess;
  done: Promise<void>;
}

interface Ledger {
  acked: Map<string, Record<string, unknown>>;
  issued: Map<string, Record<string, unknown>>;
  failed: Map<string, string>;
}

export async function runTrial(options: TrialOptions): Promise<TrialReport> {
  const nats = await startNatsCluster(3);
  const stream = `trial${options.seed}`;
  const ledger: Ledger = { acked: new Map(), issued: new Map(), failed: new Map() };
  const killed: { lost: Set<string> } = { lost: new Set() };
  let killedServer = '';
  try {
    let acknowledged = 0;
    const waiters: { at: number; resolve: () => void }[] = [];
    const counted = (): void => {
      acknowledged++;
      for (const waiter of waiters.filter(({ at }) => acknowledged >= at)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    };
    const reaching = (at: number): Promise<void> => new Promise((resolve) => (acknowledged >= at ? resolve() : waiters.push({ at, resolve })));

    const launch = (name: string, dir: string, seed: number, ops: number, wait: boolean): Child & { ready: Promise<void> } => {
      const args = [CHILD, dir, stream, nats.urls.join(','), name, String(seed), String(ops), String(options.window), ...(wait ? ['wait'] : [])];
      const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
      const reap = (): void => void child.kill('SIGKILL');
      process.once('exit', reap);
      child.once('exit', () => process.off('exit', reap));
      let rest = '';
      let ready: () => void = () => undefined;
      const isReady = new Promise<void>((resolve) => (ready = resolve));
      const done = new Promise<void>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (text: string) => {
          const lines = (rest + text).split('\n');
          rest = lines.pop()!;
          for (const line of lines) {
            const message = JSON.parse(line) as Record<string, unknown>;
            if (typeof message['issued'] === 'string') ledger.issued.set(message['issued'], message);
            else if (typeof message['acked'] === 'string') {
              ledger.acked.set(message['acked'], message);
              counted();
            } else if (typeof message['failed'] === 'string') ledger.failed.set(message['failed'], message['code'] as string);
            else if (message['ready'] === true) ready();
            else if (message['done'] === true) resolve();
          }
        });
        child.once('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : code === 0 ? resolve() : reject(new Error(`node ${name} exited with ${code ?? signal}`))));
      });
      return { name, dir, process: child, done, ready: isReady };
    };

    // Every node opens before any writes, so that each sees the whole stream.
    const children: Child[] = [1, 2, 3].map((i) => launch(`n${i}`, join(options.root, `n${i}`), options.seed * 10 + i, options.ops, true));
    await Promise.all(children.map((child) => (child as Child & { ready: Promise<void> }).ready));
    for (const child of children) child.process.stdin!.write('go\n');

    // The stream's leader dies in the middle of the writes, and comes back.
    await reaching(options.killServerAt);
    const nc = await connect({ servers: nats.urls });
    const leader = (await (await nc.jetstreamManager()).streams.info(stream)).cluster?.leader;
    await nc.close();
    const server = nats.servers.find(({ name }) => name === leader) ?? nats.servers[0]!;
    killedServer = server.name;
    await server.kill('SIGKILL');
    setTimeout(() => void server.start(), 3000);

    // Later, one node dies in the middle of its writes, and opens its directory again.
    await reaching(options.killNodeAt);
    const victim = children[2]!;
    victim.process.kill('SIGKILL');
    await victim.done;
    for (const id of ledger.issued.keys()) if (id.startsWith(`${victim.name}:`) && !ledger.acked.has(id) && !ledger.failed.has(id)) killed.lost.add(id);
    // Opened again, it catches up before it says anything: what it applied meanwhile is the one gap its change stream may have.
    const again = launch(`${victim.name}r`, victim.dir, options.seed * 10 + 9, Math.ceil(options.ops / 2), false);
    children[2] = again;

    await Promise.all(children.map((child) => child.done));
    if (!server.running) await server.start();
    for (const child of children) {
      const exited = new Promise((resolve) => child.process.once('exit', resolve));
      child.process.kill('SIGTERM');
      await exited;
    }

    const dbs: Database[] = [];
    for (const child of children) dbs.push(await open(child.dir));
    try {
      const streams = children.map((child) => (existsSync(`${child.dir}.changes`) ? readFileSync(`${child.dir}.changes`, 'utf8').split('\n').filter((line) => line !== '') : []));
      const problems = check(dbs, streams, ledger, killed.lost, 2);
      const skipping = streams.map((seen, i) => (i === 1 ? seen.filter((_, j) => j !== Math.floor(seen.length / 2)) : seen));
      const control = check(dbs, skipping, ledger, killed.lost, 2);
      const failed: Record<string, number> = {};
      for (const code of ledger.failed.values()) failed[code] = (failed[code] ?? 0) + 1;
      return { acknowledged: ledger.acked.size, unknown: killed.lost.size, failed, killedServer, problems, control, seq: dbs[0]!.seq };
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  } finally {
    await nats.stop();
  }
}

/** Every node's records (with their metadata), table by table, the package's own left out. */
export function contents(db: Database): string {
  return JSON.stringify(db.tableNames().map((name) => [name, [...db.table(name).range()].map(([key, value]) => [key, value, db.table(name).meta(key)])]));
}

/**
 * What the checks find: the nodes' tables differ; an acknowledged write is missing; counts that do
 * not add up (hits, produced, swaps: between the acknowledged and those plus the unknown); money
 * made or lost by transfers; change streams that differ (the killed node's may miss one run of
 * changes, those it was emitting when it died).
 */
export function check(dbs: readonly Database[], streams: readonly (readonly string[])[], ledger: Ledger, unknown: ReadonlySet<string>, killedNode: number): string[] {
  const problems: string[] = [];
  const reference = contents(dbs[0]!);
  dbs.forEach((db, i) => {
    if (contents(db) !== reference) problems.push(`node ${i + 1}'s tables differ from node 1's`);
  });
  const db = dbs[0]!;
  const count = (kind: string, set: Iterable<[string, Record<string, unknown>]>): number => [...set].filter(([, write]) => write['kind'] === kind).length;
  for (const [kind, table, key] of [['hit', 'counters', 'hits'], ['produce', 'counters', 'produced'], ['swap', 'swaps', 's']] as const) {
    const acked = count(kind, ledger.acked);
    const maybe = count(kind, [...unknown].map((id) => [id, ledger.issued.get(id)!]));
    const n = (db.table(table).get(key) as { n?: number } | undefined)?.n ?? 0;
    if (n < acked || n > acked + maybe) problems.push(`${table}/${key} is ${n}: ${acked} acknowledged ${kind} writes, ${maybe} unknown`);
  }
  for (const [id, write] of ledger.acked) {
    if (write['kind'] !== 'doc') continue;
    const record = db.table('docs').get(write['key'] as string) as Record<string, unknown> | undefined;
    if (record?.[write['field'] as string] !== write['value']) problems.push(`acknowledged merge ${id} is missing`);
  }
  const balance = [...db.table<{ balance: number }>('accounts').range()].reduce((sum, [, { balance }]) => sum + balance, 0);
  if (balance !== 0) problems.push(`the transfers made ${balance} out of nothing`);
  const full = streams[0]!;
  streams.forEach((seen, i) => {
    if (i === killedNode ? !withOneGap(seen, full) : seen.join('\n') !== full.join('\n')) problems.push(`node ${i + 1}'s change stream differs from node 1's`);
  });
  return problems;
}

/** Whether `seen` is `full` with at most one run of it left out. */
function withOneGap(seen: readonly string[], full: readonly string[]): boolean {
  let head = 0;
  while (head < seen.length && seen[head] === full[head]) head++;
  const tail = seen.length - head;
  return tail <= full.length - head && seen.slice(head).join('\n') === full.slice(full.length - tail).join('\n');
}
