// A sync server in a process of its own, so that a spec can measure its memory alone.
// argv: <dir> <serve options as JSON>. Messages in: { write: { count, keys, bytes } },
// { memory: true }, { connections: true }, { entries: table }, { stop: true }; each answered once.
import { open } from 'rxkv';
import { serve } from 'rxkv/server';

const db = await open(process.argv[2]!);
const server = await serve(db, JSON.parse(process.argv[3]!));
const reply = (message: object): void => void process.send!(message);
reply({ port: server.port });

// Never outlive the spec that started it.
process.on('disconnect', () => process.exit(0));

const gc = (globalThis as unknown as { gc: () => void }).gc;

process.on('message', async (message: any) => {
  if (message.write !== undefined) {
    const { count, keys, bytes } = message.write as { count: number; keys: number; bytes: number };
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      // Each write of a record changes its text: every change carries `bytes` of patch.
      const round = Math.floor(i / keys);
      writes.push(db.table('t').merge(`k${i % keys}`, { n: i, text: String.fromCharCode(97 + (round % 26)).repeat(bytes) }));
      if (writes.length === 256) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    reply({ seq: db.seq });
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
