// A sync server in a process of its own, so that a spec can measure its memory and its event
// loop alone. argv: <dir> <serve options as JSON>. Messages in: { write: { count, keys, bytes, incompressible? } },
// { fill: { table, count, bytes } }, { probe: 'start' | 'stop' }, { memory: true },
// { connections: true }, { entries: table }, { stop: true }; each answered once.
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { open } from 'rxkv';
import { serve } from 'rxkv/server';

const db = await open(process.argv[2]!);
const server = await serve(db, JSON.parse(process.argv[3]!));
const reply = (message: object): void => void process.send!(message);
reply({ port: server.port });

// Never outlive the spec that started it.
process.on('disconnect', () => process.exit(0));

const gc = (globalThis as unknown as { gc: () => void }).gc;

/** While started: the event loop's delay, and durable writes made one after the other with their latency. */
let probe: { delay: IntervalHistogram; writing: boolean; writes: number; slowestWrite: number; done: Promise<void> } | undefined;

async function writeInTurn(): Promise<void> {
  while (probe!.writing) {
    const started = performance.now();
    await db.table('probe').merge('k', { n: probe!.writes });
    probe!.slowestWrite = Math.max(probe!.slowestWrite, performance.now() - started);
    probe!.writes++;
  }
}

process.on('message', async (message: any) => {
  if (message.write !== undefined) {
    const { count, keys, bytes, incompressible = false } = message.write as { count: number; keys: number; bytes: number; incompressible?: boolean };
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      // Each write of a record changes its text: every change carries `bytes` of patch (random
      // base64 when `incompressible`, so that permessage-deflate does not shrink it).
      const round = Math.floor(i / keys);
      const text = incompressible ? randomBytes((bytes * 3) / 4).toString('base64') : String.fromCharCode(97 + (round % 26)).repeat(bytes);
      writes.push(db.table('t').merge(`k${i % keys}`, { n: i, text }));
      if (writes.length === 256) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    reply({ seq: db.seq });
  } else if (message.fill !== undefined) {
    const { table, count, bytes } = message.fill as { table: string; count: number; bytes: number };
    for (let from = 0; from < count; from += 5000) {
      await db.transaction((tx) => {
        for (let i = from; i < Math.min(count, from + 5000); i++) tx.table(table).put(`k${String(i).padStart(7, '0')}`, { i, text: 'x'.repeat(bytes) });
      });
    }
    reply({ seq: db.seq });
  } else if (message.probe === 'start') {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    probe = { delay, writing: true, writes: 0, slowestWrite: 0, done: Promise.resolve() };
    probe.done = writeInTurn();
    reply({ started: true });
  } else if (message.probe === 'stop') {
    const { delay } = probe!;
    probe!.writing = false;
    await probe!.done;
    delay.disable();
    reply({ maxDelay: delay.max / 1e6, p99Delay: delay.percentile(99) / 1e6, writes: probe!.writes, slowestWrite: probe!.slowestWrite });
    probe = undefined;
  } else if (message.memory !== undefined) {
    gc();
    gc();
    const { heapUsed, arrayBuffers, external } = process.memoryUsage();
    reply({ heapUsed, arrayBuffers, external });
  } else if (message.connections !== undefined) {
    reply({ connections: server.connections });
  } else if (message.entries !== undefined) {
    reply({ entries: [...db.table(message.entries).entries()] });
  } else if (message.stop !== undefined) {
    await server.close();
    await db.close();
    process.exit(0);
  }
});
