// A child for the power loss spec: opens the database at argv[2] with the durability of argv[3]
// and writes new records for ever (argv[4] writes in flight), until the parent's strace kills it
// at the Nth fdatasync, or the parent kills it after enough acknowledgements. Each record has its
// own key. Lines on stdout, written with a direct write(2) so that a line printed is a line the
// parent reads, kill -9 or not:
//   "ready <pid>"  the database is open; writes start
//   "a <key>"      the write of <key> resolved
//   "r <key> <code>" it was rejected
// It stops by itself after 200,000 writes (the parent then reports that no kill came).
import { writeSync } from 'node:fs';
import { open, RxkvError, type Durability } from 'rxkv';

const [dir, durability, inFlightText] = process.argv.slice(2) as [string, Durability, string];
const say = (line: string) => writeSync(1, line + '\n');

const db = await open(dir, { durability });
const table = db.table<{ i: number }>('p');
say(`ready ${process.pid}`);

let next = 0;
async function writer(): Promise<void> {
  while (next < 200_000) {
    const key = `pl${String(next++).padStart(7, '0')}`;
    try {
      await table.put(key, { i: next });
      say(`a ${key}`);
    } catch (error) {
      say(`r ${key} ${error instanceof RxkvError ? error.code : String(error)}`);
    }
  }
}
await Promise.all(Array.from({ length: Number(inFlightText) }, writer));
await db.close();
