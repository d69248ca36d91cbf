// A node of the benchmark's cluster in a process of its own: `node bench/cluster-node.js <json>`.
// It opens the node, says `ready`, and on a line on stdin runs its part:
//   write: `ops` merges over W1_KEYS keys, `window` in flight; then `done <ms> <µs of CPU>`.
//   paced: `ops` merges one after another, `interval` ms apart; `ack <key> <ms since timeOrigin>` for each.
//   read:  `recv <key> <ms since timeOrigin>` for each change it receives, until stdin closes.
import { createInterface } from 'node:readline';
import { open } from 'rxkv';
import { SIZES, keyOf, operations, runWindowed } from './workload.js';

const { dir, servers, stream, mode, ops, window, interval, seed } = JSON.parse(process.argv[2]);
const db = await open(dir, { cluster: { servers, stream, timeout: 60_000 } });
const table = db.table('bench');
const now = () => performance.timeOrigin + performance.now();
const lines = createInterface({ input: process.stdin });
const go = new Promise((resolve) => lines.once('line', resolve));
if (mode === 'read') table.changes().subscribe((change) => process.stdout.write(`recv ${change.key} ${now()}\n`));
process.stdout.write('ready\n');
await go;
if (mode === 'write') {
  const { keys, patches } = operations(ops, SIZES.W1_KEYS, seed);
  const start = performance.now();
  const cpu = process.cpuUsage();
  await runWindowed(ops, window, (i) => table.merge(keys[i], patches[i]));
  await db.sync(); // every node's writes applied here too
  const { user, system } = process.cpuUsage(cpu);
  process.stdout.write(`done ${performance.now() - start} ${user + system}\n`);
} else if (mode === 'paced') {
  for (let i = 0; i < ops; i++) {
    const key = keyOf(i);
    await table.merge(key, { i });
    process.stdout.write(`ack ${key} ${now()}\n`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  process.stdout.write('done 0\n');
} else {
  await new Promise((resolve) => lines.once('close', resolve));
}
await db.close();
