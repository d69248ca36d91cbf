// A child for the I/O error spec. Writes some records, then waits for "go" on stdin, which the
// parent sends once strace has attached to make the next fdatasync fail with EIO. Prints one
// JSON report on stdout.
import { createInterface } from 'node:readline';
import { open, RxkvError } from 'rxkv';

const dir = process.argv[2]!;
const db = await open(dir);
const t = db.table<{ n: number }>('t');
for (let i = 0; i < 5; i++) await t.put(`k${i}`, { n: i });
const errors: string[] = [];
db.errors$.subscribe((error) => errors.push(error.code));

process.stdout.write('ready\n');
await new Promise<void>((resolve) => {
  const input = createInterface({ input: process.stdin });
  input.once('line', () => {
    input.close();
    process.stdin.destroy(); // an open stdin would keep this process alive
    resolve();
  });
});

const code = (error: unknown) => (error instanceof RxkvError ? error.code : String(error));
const settle = (promise: Promise<unknown>) => promise.then(() => 'acknowledged', code);

// The commit of `first` meets the failing sync; `second` is queued behind it.
const first = settle(t.put('k0', { n: 100 }));
const second = settle(t.put('k1', { n: 101 }));
const failed = { first: await first, second: await second };
const memoryAfterFailure = { k0: t.get('k0'), k1: t.get('k1') };
const stoppedAfterFailure = db.stopped;

const historyBefore = db.history;
const start = performance.now();
const later = await settle(t.put('k2', { n: 102 }));
const laterMs = performance.now() - start;

await Promise.all([db.recover(), db.recover()]); // a second call joins the first
const historyAfterRecovery = db.history;
const afterRecovery = await settle(t.put('k3', { n: 103 }));
await db.close();
const reopened = await open(dir);
const durable = Object.fromEntries(reopened.table('t').entries());
const history = { changedByRecovery: historyAfterRecovery !== historyBefore, keptByReopening: reopened.history === historyAfterRecovery };
await reopened.close();

process.stdout.write(
  JSON.stringify({ failed, memoryAfterFailure, stoppedAfterFailure, errors, later, laterMs, afterRecovery, durable, history }) + '\n',
);
