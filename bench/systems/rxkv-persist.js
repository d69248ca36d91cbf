// O3 and O4: a persisted replica (`rxkv/client` with `fileStore`), reopened offline and written to offline.
import { mkdirSync, readFileSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
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
export async function O4({ dir, baseline }) {
  mkdirSync(dir, { recursive: true });
  if (baseline) return groupAppend(join(dir, 'plain.jsonl'));
  const inner = fileStore(join(dir, 'replica.jsonl'));
  /** By mutation number: when the write was made, and what to tell once it is stored. */
  const waiting = new Map();
  const times = [];
  const store = {
    load: () => inner.load(),
    close: () => inner.close(),
    save: async (batch) => {
      await inner.save(batch);
      const now = performance.now();
      for (const { m } of batch.writes) {
        const write = waiting.get(m);
        if (write === undefined) continue;
        waiting.delete(m);
        times.push(now - write.at);
        write.stored();
      }
    },
  };
  const remote = connect(OFFLINE, { persist: store, optimistic: true });
  const table = remote.table(TABLE);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the store is read meanwhile
  if (remote.status.state !== 'connecting') throw new Error(`the replica did not open its store: ${remote.status.reason}`);
  const started = performance.now();
  // Offline, a write never resolves: the window moves on once it is stored. A fresh store numbers them from 1.
  await runWindowed(SIZES.O4_WRITES, SIZES.O4_WINDOW, (i) =>
    new Promise((stored) => {
      waiting.set(i + 1, { at: performance.now(), stored });
      table.merge(keyOf(i % 1000), { o4: i }).catch(() => undefined);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await remote.close();
  times.sort((a, b) => a - b);
  return { p99Ms: percentile(times, 99), p50Ms: percentile(times, 50), writesPerSec: SIZES.O4_WRITES / seconds, stored: times.length };
}

/**
 * O4's baseline: the same writes, O4_WINDOW at a time, appended to a file as JSON lines by a plain
 * group commit (all that arrived while the last fdatasync ran, then one fdatasync): the least a
 * write's way to disk costs here.
 */
async function groupAppend(path) {
  const file = await openFile(path, 'a');
  const times = [];
  let queue = [];
  let flushing = false;
  const flush = async () => {
    flushing = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      await file.write(batch.map(({ line }) => line).join(''));
      await file.datasync();
      const now = performance.now();
      for (const { at, done } of batch) {
        times.push(now - at);
        done();
      }
    }
    flushing = false;
  };
  const started = performance.now();
  await runWindowed(SIZES.O4_WRITES, SIZES.O4_WINDOW, (i) =>
    new Promise((done) => {
      queue.push({ at: performance.now(), line: JSON.stringify({ m: i + 1, ops: [{ op: 'merge', table: TABLE, key: keyOf(i % 1000), value: { o4: i } }], optimistic: true }) + '\n', done });
      if (!flushing) void flush();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await file.close();
  times.sort((a, b) => a - b);
  return { p99Ms: percentile(times, 99), p50Ms: percentile(times, 50), writesPerSec: SIZES.O4_WRITES / seconds, stored: times.length };
}
