// A child process for the crash cycles: opens the database at argv[2] and writes for ever with
// many writes in flight, logging a line when it issues a write and when the write settles. The
// log is a file (argv[3]) written with writeSync: each line is in the page cache before the next
// step, so it survives kill -9. (stdout is not enough: when the pipe is full, Node queues what
// does not fit in the process, and a kill loses it.) Acknowledgements also go to stdout, for the
// parent to decide when to kill.
//   "i <id> <n>"  issued: a write of n to record <id>
//   "a <id> <n>"  acknowledged
//   "r <id> <n>"  rejected
// Records: "s<w>" single writes to table a; "t<w>" transactions writing n to tables a, b and c.
import { openSync, writeSync } from 'node:fs';
import { open } from 'rxkv';

const [dir, logFile] = process.argv.slice(2) as [string, string];
const logFd = openSync(logFile, 'a');
const WRITERS = 12;
const WINDOW = 8; // writes in flight per writer

const db = await open(dir, { durability: 'sync' });
const a = db.table<{ n: number }>('a');

const say = (line: string) => {
  writeSync(logFd, line + '\n');
  if (line.startsWith('a ')) process.stdout.write('a\n');
};

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

process.stdout.write('ready\n');
for (let w = 0; w < WRITERS; w++) void writer(w);
