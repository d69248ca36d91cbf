// A child for the disk-full spec, run with --expose-gc on a small tmpfs the parent mounted:
//   node --expose-gc disk-full-child.js <dir> <bytes to leave free> <recover-while-full|free-first>
// Leaves that many bytes free with a filler file, opens a database there ('sync' durability) and
// writes (256 in flight) until the disk is full; then keeps writing while stopped, measuring the
// time to reject and the heap; with recover-while-full, calls recover() once while the disk is
// still full; deletes the filler, recovers at once, writes again, closes and opens again.
// Prints one JSON line per step on stdout, {"phase": name, ...what it found}: 'calling' lines
// come before a call that might never return, so the last line says where a hung child stopped.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, RxkvError, type Database } from 'rxkv';

const dir = process.argv[2]!;
const leave = Number(process.argv[3]);
const recoverWhileFull = process.argv[4] === 'recover-while-full';
const AFTER_FAILURE_WRITES = 20_000;
const IN_FLIGHT = 256;
const MAX_FILL_WRITES = 200_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const phase = (name: string, found: object = {}) => process.stdout.write(JSON.stringify({ phase: name, ...found }) + '\n');
const free = () => {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
};
const code = (error: unknown) => (error instanceof RxkvError ? error.code : `untyped: ${String(error)}`);
const settle = (promise: Promise<unknown>) => promise.then(() => 'resolved', code);
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

// Fill the file system up to `leave` free bytes.
const filler = join(dir, 'filler');
const fd = openSync(filler, 'w');
const chunk = Buffer.alloc(1 << 20, 1);
for (let left = free() - leave; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(left, chunk.length));
closeSync(fd);

type Value = { n: number; v?: string };
const path = join(dir, 'db');
const db = await open(path);
const errors: string[] = [];
db.errors$.subscribe((error) => errors.push(error.code));
const t = db.table<Value>('t');
phase('opened', { free: free() });

// Fill: unique keys with incompressible values; every tenth write overwrites 'hot'.
const acked = new Map<string, number>(); // key -> n of its last acknowledged write
const rejected = new Map<string, number[]>(); // key -> n of each of its rejected writes
let issued = 0;
let settled = 0;
let ackedAfterFailure = 0;
let firstFailure: { code: string; cause: string; ms: number } | undefined;
const inFlight = new Set<Promise<void>>();
while (firstFailure === undefined && issued < MAX_FILL_WRITES) {
  const n = issued++;
  const key = n % 10 === 9 ? 'hot' : `k${String(n).padStart(8, '0')}`;
  const value: Value = key === 'hot' ? { n } : { n, v: randomBytes(512).toString('base64') };
  const start = performance.now();
  const tracked: Promise<void> = t
    .put(key, value)
    .then(
      () => {
        if (firstFailure !== undefined) ackedAfterFailure++;
        if ((acked.get(key) ?? -1) < n) acked.set(key, n);
      },
      (error: unknown) => {
        firstFailure ??= { code: code(error), cause: String((error as Error).cause ?? ''), ms: performance.now() - start };
        rejected.set(key, [...(rejected.get(key) ?? []), n]);
      },
    )
    .finally(() => {
      settled++;
      inFlight.delete(tracked);
    });
  inFlight.add(tracked);
  if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
}
phase('full: settling the writes in flight', { issued, firstFailure });
await Promise.all(inFlight);

/**
 * Acknowledged writes missing from `database` or holding another value (a later rejected write
 * of the same key may be there instead: it is indeterminate), and records nobody acknowledged
 * that hold something no write of theirs wrote.
 */
function check(database: Database): { missing: number; wrong: number; unexpected: number } {
  const table = database.table<Value>('t');
  let missing = 0;
  let wrong = 0;
  let unexpected = 0;
  for (const [key, n] of acked) {
    const value = table.get(key);
    if (value === undefined) missing++;
    else if (value.n !== n && !(rejected.get(key) ?? []).some((r) => r > n && r === value.n)) wrong++;
  }
  for (const [key, value] of table.entries()) {
    if (!acked.has(key) && !(rejected.get(key) ?? []).includes(value.n)) unexpected++;
  }
  return { missing, wrong, unexpected };
}

phase('full', {
  issued,
  settled,
  acked: acked.size,
  rejected: [...rejected.values()].reduce((sum, ns) => sum + ns.length, 0),
  ackedAfterFailure,
  firstFailure,
  free: free(),
  // Memory keeps the last committed state: every acknowledged write and no rejected one.
  memory: check(db),
  rejectedInMemory: [...rejected.keys()].filter((key) => !acked.has(key) && t.has(key)).length,
  hot: { inMemory: t.get('hot')?.n ?? null, acked: acked.get('hot') ?? null },
});

// While stopped: one of each verb, awaited one by one.
const verbs: Record<string, () => Promise<unknown>> = {
  put: () => t.put('stopped-put', { n: -1 }),
  merge: () => t.merge('hot', { n: -1 }),
  update: () => t.update('hot', { n: -1 }),
  increment: () => t.increment('hot', 'n'),
  produce: () => t.produce('hot', (draft) => void (draft.n = -1)),
  delete: () => t.delete('hot'),
  clear: () => t.clear(),
  transaction: () => db.transaction((tx) => tx.table<Value>('t').put('stopped-tx', { n: -1 })),
};
const verbCodes: Record<string, string> = {};
let worstVerbMs = 0;
for (const [verb, write] of Object.entries(verbs)) {
  const start = performance.now();
  verbCodes[verb] = await settle(write());
  worstVerbMs = Math.max(worstVerbMs, performance.now() - start);
}

// While stopped: 20,000 more writes, the first 2,000 awaited one by one (each timed from its
// call to its rejection), the rest 1,000 at a time (each round timed).
const heapBefore = heapAfterGc();
const laterCodes = new Set<string>();
let laterAcked = 0;
let laterWorstMs = 0;
let laterWorstRoundMs = 0;
const laterStart = performance.now();
const later = (n: number) =>
  t.put(`later${n}`, { n, v: randomBytes(512).toString('base64') }).then(
    () => void laterAcked++,
    (error: unknown) => void laterCodes.add(code(error)),
  );
for (let n = 0; n < 2000; n++) {
  const start = performance.now();
  await later(n);
  laterWorstMs = Math.max(laterWorstMs, performance.now() - start);
}
for (let sent = 2000; sent < AFTER_FAILURE_WRITES; sent += 1000) {
  const start = performance.now();
  const round: Promise<void>[] = [];
  for (let n = sent; n < sent + 1000; n++) round.push(later(n));
  await Promise.all(round);
  laterWorstRoundMs = Math.max(laterWorstRoundMs, performance.now() - start);
}
const laterTotalMs = performance.now() - laterStart;
const heapAfter = heapAfterGc();
// Stay up a while longer, idle, so that any timer or background work gets its turn.
await new Promise((resolve) => setTimeout(resolve, 1500));
const heapIdle = heapAfterGc();
phase('stopped', {
  stopped: db.stopped,
  errors: [...errors],
  verbCodes,
  worstVerbMs,
  laterWrites: AFTER_FAILURE_WRITES,
  laterCodes: [...laterCodes],
  laterAcked,
  laterWorstMs,
  laterWorstRoundMs,
  laterTotalMs,
  heapBefore,
  heapAfter,
  heapIdle,
  memory: check(db),
});

if (recoverWhileFull) {
  phase('recover() while full: calling');
  const recovered = await settle(db.recover());
  const stopped = db.stopped;
  const write = await settle(t.put('after-failed-recover', { n: -2 }));
  phase('recover() while full', { recover: recovered, stopped, write, memory: check(db), errors: [...errors] });
}

// Free space and recover at once.
unlinkSync(filler);
phase('recover() after freeing space: calling', { free: free() });
const recovered = await settle(db.recover());
const stoppedAfter = db.stopped;
const memory = check(db);
const written = new Set<string>();
for (let i = 0; i < 100; i++) {
  const key = `again${i}`;
  const result = await settle(t.put(key, { n: 1_000_000 + i }));
  if (result === 'resolved') acked.set(key, 1_000_000 + i);
  written.add(result);
}
phase('recover() after freeing space', { recover: recovered, stopped: stoppedAfter, memory, written: [...written] });

phase('close(): calling');
phase('close()', { close: await settle(db.close()) });

// Open again: every acknowledged write is on disk.
phase('open() again: calling');
try {
  const again = await open(path);
  const disk = check(again);
  const size = again.table('t').size;
  phase('open() again', { open: 'resolved', disk, size, acked: acked.size, close: await settle(again.close()) });
} catch (error) {
  phase('open() again', { open: code(error) });
}
