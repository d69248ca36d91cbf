// A sync server alone in its process (started with --expose-gc), so that a spec can measure the
// heap that serving connections takes and gives back: no client lives in this process. Its
// `authorize` allows everything, `inspect` included, so that a client can ask for the server's
// figures over the wire. argv: <dir> <records to put in table 't'>.
// Messages in, each answered once: { heap: true } (after full collections), { cpu: true },
// { connections: true }, { snapshot: path } (a heap snapshot written there), { stop: true }.
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { open } from 'rxkv';
import { serve } from 'rxkv/server';

const gc = (globalThis as unknown as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('connections-server-child: start it with --expose-gc');

const db = await open(process.argv[2]!);
const records = Number(process.argv[3] ?? 0);
for (let from = 0; from < records; from += 5000) {
  await db.transaction((tx) => {
    for (let i = from; i < Math.min(records, from + 5000); i++) tx.table('t').put(recordKey(i), { i });
  });
}
const server = await serve(db, { authorize: () => true });
const reply = (message: object): void => void process.send!(message);
reply({ port: server.port });

// Never outlive the spec that started it.
process.on('disconnect', () => process.exit(0));

/** The key connection `i` subscribes to (the same in the client child). */
function recordKey(i: number): string {
  return `k${String(i).padStart(5, '0')}`;
}

process.on('message', async (message: any) => {
  if (message.heap !== undefined) {
    // Several collections, with turns of the event loop between them: finalizers and weak
    // callbacks queued by one run before the next.
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { heapUsed, heapTotal, external, arrayBuffers, rss } = process.memoryUsage();
    // Compiled code lives in the heap too (code space; its deoptimization data and relocation
    // info in old space): code optimized under load is no state kept.
    const code = getHeapSpaceStatistics()
      .filter((space) => space.space_name.startsWith('code_'))
      .reduce((sum, space) => sum + space.space_used_size, 0);
    reply({ heapUsed, heapTotal, external, arrayBuffers, rss, code });
  } else if (message.cpu !== undefined) {
    reply(process.cpuUsage());
  } else if (message.connections !== undefined) {
    reply({ connections: server.connections });
  } else if (message.snapshot !== undefined) {
    gc();
    reply({ snapshot: writeHeapSnapshot(message.snapshot as string) });
  } else if (message.stop !== undefined) {
    await server.close();
    await db.close();
    process.exit(0);
  }
});
