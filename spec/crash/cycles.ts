// Kill -9 cycles: a child writes with many writes in flight (single writes and transactions over
// three tables) and is killed with SIGKILL at a random moment; the database is reopened and
// checked. Used by spec/crash-spec.ts (a short run) and `npm run soak` (a long one).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'rxkv';
import { readRaw } from '../helpers/raw.js';
import { Random } from '../helpers/random.js';

const WRITER = fileURLToPath(new URL('./writer.js', import.meta.url));
const TABLES = ['a', 'b', 'c'];

export interface CycleTotals {
  cycles: number;
  /** Writes acknowledged before the kill. */
  acknowledged: number;
  /** Writes issued but neither acknowledged nor rejected at the kill. */
  inFlight: number;
  rejected: number;
  /** Acknowledged writes not found after reopening. */
  lost: number;
  /** Values found that were never issued. */
  phantom: number;
  /** Transactions found partly applied. */
  torn: number;
  /** Records whose memory after reopening differs from what RocksDB holds. */
  mismatched: number;
}

interface Log {
  issued: Map<string, number>;
  acked: Map<string, number>;
  counts: { issued: number; acked: number; rejected: number };
}

/** Runs the writer, kills it after `acks` acknowledgements or `ms` milliseconds, returns its log. */
async function runAndKill(dir: string, killAt: { acks: number } | { ms: number }): Promise<Log> {
  const logFile = join(dir, '..', `${basename(dir)}-writer.log`);
  rmSync(logFile, { force: true });
  const child = spawn(process.execPath, [WRITER, dir, logFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const lines = createInterface({ input: child.stdout! });
  const drained = new Promise((resolve) => lines.once('close', resolve));
  let acked = 0;
  if ('ms' in killAt) setTimeout(() => child.kill('SIGKILL'), killAt.ms);
  else lines.on('line', (line) => line === 'a' && ++acked === killAt.acks && child.kill('SIGKILL'));
  const signal = await exited;
  await drained;
  if (signal !== 'SIGKILL') throw new Error(`the writer exited on its own (${signal})`);
  const log: Log = { issued: new Map(), acked: new Map(), counts: { issued: 0, acked: 0, rejected: 0 } };
  const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  rmSync(logFile, { force: true });
  for (const line of text.split('\n')) {
    const [kind, id, value] = line.split(' ') as [string, string, string];
    const n = Number(value);
    if (kind === 'i') {
      log.counts.issued++;
      log.issued.set(id, Math.max(log.issued.get(id) ?? 0, n));
    } else if (kind === 'a') {
      log.counts.acked++;
      log.acked.set(id, Math.max(log.acked.get(id) ?? 0, n));
    } else if (kind === 'r') {
      log.counts.rejected++;
    }
  }
  return log;
}

/** Reopens the database and checks every invariant against the log of one cycle. */
async function check(dir: string, log: Log, totals: CycleTotals): Promise<void> {
  const db = await open(dir);
  const memory = new Map<string, Map<string, { value: unknown; version: number; created: number; updated: number }>>();
  try {
    for (const name of TABLES) {
      const table = db.table<{ n: number }>(name);
      const records = new Map<string, { value: unknown; version: number; created: number; updated: number }>();
      for (const [key, value] of table.entries()) records.set(key, { value, ...table.meta(key)! });
      memory.set(name, records);
    }
  } finally {
    await db.close();
  }
  const n = (table: string, id: string) => (memory.get(table)!.get(id)?.value as { n: number } | undefined)?.n ?? 0;
  for (const [id, acked] of log.acked) if (n('a', id) < acked) totals.lost++;
  for (const [id, found] of memory.get('a')!) {
    const value = (found.value as { n: number }).n;
    if (log.issued.has(id) && value > log.issued.get(id)!) totals.phantom++;
  }
  const transactions = new Set([...memory.values()].flatMap((records) => [...records.keys()].filter((id) => id.startsWith('t'))));
  for (const id of transactions) if (n('a', id) !== n('b', id) || n('b', id) !== n('c', id)) totals.torn++;
  const disk = await readRaw(dir);
  for (const name of TABLES) {
    const inMemory = memory.get(name)!;
    const onDisk = disk.get(name) ?? new Map();
    if (inMemory.size !== onDisk.size) totals.mismatched += Math.abs(inMemory.size - onDisk.size);
    for (const [key, record] of inMemory) {
      const raw = onDisk.get(key);
      const same =
        raw !== undefined &&
        JSON.stringify(raw.value) === JSON.stringify(record.value) &&
        raw.version === record.version &&
        raw.created === record.created &&
        raw.updated === record.updated;
      if (!same) totals.mismatched++;
    }
  }
}

export async function runCycles(dir: string, cycles: number, seed: number, onCycle?: (cycle: number, totals: CycleTotals) => void): Promise<CycleTotals> {
  const random = new Random(seed);
  const totals: CycleTotals = { cycles: 0, acknowledged: 0, inFlight: 0, rejected: 0, lost: 0, phantom: 0, torn: 0, mismatched: 0 };
  for (let cycle = 1; cycle <= cycles; cycle++) {
    // Half the kills land after some acknowledgements, half at a random time (opening included).
    const killAt = cycle % 2 === 0 ? { acks: 50 + random.int(4000) } : { ms: 20 + random.int(400) };
    const log = await runAndKill(dir, killAt);
    totals.cycles++;
    totals.acknowledged += log.counts.acked;
    totals.rejected += log.counts.rejected;
    totals.inFlight += log.counts.issued - log.counts.acked - log.counts.rejected;
    await check(dir, log, totals);
    onCycle?.(cycle, totals);
  }
  return totals;
}
