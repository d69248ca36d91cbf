// A child for the fsync order spec, run under `strace -f` by the parent. Opens the database at
// argv[2] with the durability of argv[3], then writes argv[4] records, argv[5] writes in flight,
// each to its own distinctive key (beginning with the nonce argv[6]), so that the strace log shows
// the key inside the WAL write that carries it. For every acknowledged write it writes one marker
// line to stdout with a direct write(2) (fs.writeSync), which strace logs as
// `write(1<...>, "ack <key>\n", ...)` at the moment the acknowledgement reaches the program:
//   "begin <nonce>"  the database is open; writes start
//   "ack <key>"      the write of <key> resolved
//   "end"            every write resolved; the database is closing
import { writeSync } from 'node:fs';
import { open, type Durability } from 'rxkv';

const [dir, durability, countText, inFlightText, nonce] = process.argv.slice(2) as [string, Durability, string, string, string];
const count = Number(countText);
const inFlight = Number(inFlightText);

const db = await open(dir, { durability });
const table = db.table<{ i: number }>('fsync');
const say = (line: string) => writeSync(1, line + '\n');

say(`begin ${nonce}`);
let next = 0;
async function writer(): Promise<void> {
  while (next < count) {
    const i = next++;
    const key = `${nonce}-${String(i).padStart(6, '0')}-acknowledged-after-its-sync`;
    await table.put(key, { i });
    say(`ack ${key}`);
  }
}
await Promise.all(Array.from({ length: inFlight }, writer));
say('end');
await db.close();
