// O1 and O2: optimistic writes of an `rxkv/client` replica, served by `rxkv/server` in this process.
import { open } from 'rxkv';
import { serve } from 'rxkv/server';
import { SIZES, keyOf, percentile, random, record, runWindowed } from '../workload.js';

const TABLE = 'bench';
/** Records the replica holds, and the pending writes O2 keeps (one on each). */
const RECORDS = 100;

const cpuMicros = (since) => ((used) => used.user + used.system)(process.cpuUsage(since));

/**
 * A served database of RECORDS records whose client writes wait in `authorize` until `release()`
 * (so that they stay pending as long as a run needs), and an optimistic replica following the
 * whole table: `changes` counts what its stream emitted.
 */
async function setUp(dir) {
  const db = await open(dir);
  await db.transaction((tx) => {
    for (let i = 0; i < RECORDS; i++) tx.table(TABLE).put(keyOf(i), record(i));
  });
  let release;
  const held = new Promise((resolve) => (release = resolve));
  const server = await serve(db, { port: 0, authorize: async (_principal, { action }) => action !== 'write' || (await held, true) });
  const { connect } = await import('rxkv/client');
  const remote = connect(`ws://127.0.0.1:${server.port}`, { optimistic: true });
  const table = remote.table(TABLE);
  const stream = { changes: 0, onChange: null };
  const subscription = table.changes().subscribe((change) => {
    stream.changes++;
    stream.onChange?.(change);
  });
  while (table.size < RECORDS) await new Promise((resolve) => setTimeout(resolve, 5));
  return {
    db,
    table,
    stream,
    release,
    async close() {
      release();
      subscription.unsubscribe();
      await remote.close();
      await server.close();
      await db.close();
    },
  };
}

/**
 * O1: O1_WRITES optimistic merges of the replica, up to O1_WINDOW waiting for the server at once:
 * the time from each call to its change on the replica's stream (it is shown within the call).
 */
export async function O1({ dir }) {
  const setup = await setUp(dir);
  setup.release();
  const next = random(13);
  const times = [];
  let called = 0;
  setup.stream.onChange = (change) => {
    if (change.pending === true) times.push(performance.now() - called);
  };
  await runWindowed(SIZES.O1_WRITES, SIZES.O1_WINDOW, (i) => {
    called = performance.now();
    // A member of its own: every write changes what is shown.
    return setup.table.merge(keyOf(Math.floor(next() * RECORDS)), { o1: i });
  });
  await setup.close();
  times.sort((a, b) => a - b);
  return { p99Ms: percentile(times, 99), p50Ms: percentile(times, 50), shown: times.length };
}

/**
 * O2: O2_CHANGES server merges into the replica's records (up to 100 in flight), with one pending
 * optimistic write on each record (`pending: true`: each change is rebased under it) or none:
 * this process's CPU per change, the server's work being the same in both.
 */
export async function O2({ dir, pending }) {
  const setup = await setUp(dir);
  const writes = pending ? Array.from({ length: RECORDS }, (_, i) => setup.table.merge(keyOf(i), { mine: i })) : [];
  const next = random(14);
  const before = setup.stream.changes;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const server = setup.db.table(TABLE);
  await runWindowed(SIZES.O2_CHANGES, 100, (i) => server.merge(keyOf(Math.floor(next() * RECORDS)), { o2: i }));
  while (setup.stream.changes - before < SIZES.O2_CHANGES) await new Promise((resolve) => setImmediate(resolve));
  const micros = cpuMicros(cpu);
  const seconds = (performance.now() - start) / 1000;
  setup.release();
  await Promise.all(writes);
  await setup.close();
  return { cpuMicrosPerChange: micros / SIZES.O2_CHANGES, changesPerSec: SIZES.O2_CHANGES / seconds };
}
