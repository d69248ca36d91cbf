/**
 * A node of a test cluster in a process of its own, as the cluster trial drives it: opens the node,
 * appends every change it emits to `<dir>.changes`, makes `ops` seeded writes with up to `window`
 * in flight, and reports each on stdout (NDJSON): `issued`, then `acked` or `failed`; `done` once
 * all settled and it has synced. Closes on SIGTERM. Killed with SIGKILL, it says nothing more.
 *
 * With `wait`, it says `ready` once open and starts writing on a line on stdin, so that every node
 * of the trial sees the stream from the start.
 *
 * argv: dir stream servers(comma-separated) name seed ops window [wait]
 */
import { appendFileSync } from 'node:fs';
import { open, type RxkvError } from 'rxkv';
import { Random } from '../helpers/random.js';

const [dir, stream, servers, name, seedText, opsText, windowText, wait] = process.argv.slice(2) as [string, string, string, string, string, string, string, string | undefined];
const random = new Random(Number(seedText));
const say = (line: object): void => void process.stdout.write(JSON.stringify(line) + '\n');

const db = await open(dir, { cluster: { servers: servers.split(','), stream, timeout: 30_000 } });
const changes = `${dir}.changes`;
db.changes().subscribe((change) => appendFileSync(changes, `${change.seq} ${change.table}/${change.key} ${change.op} ${JSON.stringify(change.value)}\n`));
if (wait === 'wait') {
  say({ ready: true });
  await new Promise((resolve) => process.stdin.once('data', resolve));
}

type Write = { kind: 'hit' | 'produce' | 'transfer' | 'swap' } | { kind: 'doc'; key: string; field: string; value: number };

function start(n: number): { write: Write; done: Promise<unknown> } {
  const choice = random.int(5);
  if (choice === 0) {
    const write = { kind: 'doc' as const, key: `d${random.int(30)}`, field: `${name}_${n}`, value: n };
    return { write, done: db.table('docs').merge(write.key, { [write.field]: write.value }) };
  }
  if (choice === 1) return { write: { kind: 'hit' }, done: db.table('counters').increment('hits', 'n', 1) };
  if (choice === 2) return { write: { kind: 'produce' }, done: db.table<{ n?: number }>('counters').produce('produced', (draft) => void (draft.n = (draft.n ?? 0) + 1)) };
  if (choice === 3) {
    const [from, to] = [`a${random.int(4)}`, `a${random.int(4)}`];
    const done = db.transaction((tx) => {
      const accounts = tx.table<{ balance: number }>('accounts');
      accounts.put(from, { balance: (accounts.get(from)?.balance ?? 0) - 1 });
      accounts.put(to, { balance: (accounts.get(to)?.balance ?? 0) + 1 });
    });
    return { write: { kind: 'transfer' }, done };
  }
  const swaps = db.table<{ n: number }>('swaps');
  return { write: { kind: 'swap' }, done: swaps.put('s', { n: (swaps.get('s')?.n ?? 0) + 1 }, { ifVersion: swaps.meta('s')?.version ?? 0 }) };
}

const ops = Number(opsText);
const window = Number(windowText);
let inFlight = 0;
let next = 0;
await new Promise<void>((resolve) => {
  const more = (): void => {
    while (inFlight < window && next < ops) {
      const n = next++;
      const id = `${name}:${n}`;
      let started: ReturnType<typeof start>;
      try {
        started = start(n);
      } catch (error) {
        say({ failed: id, code: (error as RxkvError).code, sync: true });
        continue;
      }
      say({ issued: id, ...started.write });
      inFlight++;
      started.done.then(
        () => say({ acked: id, ...started.write }),
        (error: RxkvError) => say({ failed: id, code: error.code, kind: started.write.kind }),
      ).finally(() => {
        inFlight--;
        if (next >= ops && inFlight === 0) resolve();
        else more();
      });
    }
    if (next >= ops && inFlight === 0) resolve();
  };
  more();
});
await db.sync();
say({ done: true, seq: db.seq });
process.once('SIGTERM', () => {
  void db.close().then(() => process.exit(0));
});
