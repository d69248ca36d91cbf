// A child process for the crash cycles: opens the database at argv[2] and writes for ever with
// many writes in flight, printing a line when it issues a write and when the write settles.
// Pipes to the parent are synchronous on Linux: a line printed is a line the parent reads,
// kill -9 or not.
//   "i <id> <n>"  issued: a write of n to record <id>
//   "a <id> <n>"  acknowledged
//   "r <id> <n>"  rejected
// Records: "s<w>" single writes to table a; "t<w>" transactions writing n to tables a, b and c.
import { open } from 'rxkv';

const dir = process.argv[2]!;
const WRITERS = 12;
const WINDOW = 8; // writes in flight per writer

const db = await open(dir, { durability: 'sync' });
const a = db.table<{ n: number }>('a');

const say = (line: string) => process.stdout.write(line + '\n');

async function writer(w: number): Promise<void> {
  const single = `s${w}`;
  const multi = `t${w}`;
  // Continue from what earlier cycles left on disk.
  let n = Math.max(a.get(single)?.n ?? 0, a.get(multi)?.n ?? 0);
  const inFlight = new Set<Promise<unknown>>();
  for (;;) {
    const value = ++n;
    const id = value % 3 === 0 ? multi : single;
    say(`i ${id} ${value}`);
    const write =
      id === multi
        ? db.transaction((tx) => {
            for (const table of ['a', 'b', 'c']) tx.table(table).merge(multi, { n: value });
          })
        : a.merge(single, { n: value });
    const settled = write.then(
      () => say(`a ${id} ${value}`),
      () => say(`r ${id} ${value}`),
    );
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
}

say('ready');
for (let w = 0; w < WRITERS; w++) void writer(w);
