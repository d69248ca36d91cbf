// O3 and O4: a persisted replica (`rxkv/client` with `fileStore`), reopened offline and written to offline.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { open } from 'rxkv';
import { serve } from 'rxkv/server';
import { connect, fileStore } from 'rxkv/client';
import { SIZES, keyOf, percentile, record, runWindowed } from '../workload.js';

const TABLE = 'bench';
/** Nothing listens on port 1: a client of it stays offline. */
const OFFLINE = 'ws://127.0.0.1:1';

/**
 * O3: a replica of O3_RECORDS records stored by a first client (online), then reopened offline: the
 * time from `connect` to the first value of the table's `state$` (`baseline`: reading and parsing
 * the store's file, the least any reopening costs).
 */
export async function O3({ dir, baseline }) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'replica.jsonl');
  const db = await open(join(dir, 'db'));
  await db.transaction((tx) => {
    for (let i = 0; i < SIZES.O3_RECORDS; i++) tx.table(TABLE).put(keyOf(i), record(i));
  });
  const server = await serve(db, { port: 0 });
  const first = connect(`ws://127.0.0.1:${server.port}`, { persist: fileStore(path) });
  first.table(TABLE).state$.subscribe();
  while (first.table(TABLE).size < SIZES.O3_RECORDS) await new Promise((resolve) => setTimeout(resolve, 5));
  await first.close();
  await server.close();
  await db.close();
  globalThis.gc?.();
  const started = performance.now();
  if (baseline) {
    let parsed = 0;
    for (const line of readFileSync(path, 'utf8').split('\n')) if (line !== '') parsed += Object.keys(JSON.parse(line)).length;
    return { ms: performance.now() - started, parsed };
  }
  const reopened = connect(OFFLINE, { persist: fileStore(path) });
  const state = await firstValueFrom(reopened.table(TABLE).state$);
  const ms = performance.now() - started;
  await reopened.close();
  return { ms, records: state.size };
}

/**
 * O4: O4_WRITES optimistic merges made offline, O4_WINDOW at a time, into a persisted replica: the
 * time from each call until the store's save that holds it resolved (the write survives a crash
 * from then on), and the writes stored per second. The file store `fdatasync`s once per save.
 */
export async function O4({ dir }) {
  mkdirSync(dir, { recursive: true });
  const inner = fileStore(join(dir, 'replica.jsonl'));
  const calledAt = new Map();
  const times = [];
  const store = {
    load: () => inner.load(),
    close: () => inner.close(),
    save: async (batch) => {
      await inner.save(batch);
      const now = performance.now();
      for (const write of batch.writes) if (calledAt.has(write.m)) times.push(now - calledAt.get(write.m));
    },
  };
  const remote = connect(OFFLINE, { persist: store, optimistic: true });
  const table = remote.table(TABLE);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the store is read meanwhile
  if (remote.status.state !== 'connecting') throw new Error(`the replica did not open its store: ${remote.status.reason}`);
  const started = performance.now();
  let m = 0;
  // Offline, a write never resolves: the window moves on once it is stored.
  await runWindowed(SIZES.O4_WRITES, SIZES.O4_WINDOW, (i) => {
    calledAt.set(++m, performance.now());
    const written = table.merge(keyOf(i % 1000), { o4: i });
    written.catch(() => undefined);
    const mine = m;
    return new Promise((resolve) => {
      const check = () => (times.length >= mine ? resolve() : setImmediate(check));
      check();
    });
  });
  const seconds = (performance.now() - started) / 1000;
  await remote.close();
  times.sort((a, b) => a - b);
  return { p99Ms: percentile(times, 99), p50Ms: percentile(times, 50), writesPerSec: SIZES.O4_WRITES / seconds, stored: times.length };
}
