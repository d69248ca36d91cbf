// Many rxkv/client connections to one server, from a process of their own (so that the server's
// process holds only the server's side of them). Each is what a replica does: connect(), welcomed,
// one live subscription to one key (watch), kept open until closed. argv: <url> <first index>.
// Messages in, each answered once:
//   { open: { count, concurrency } }  opens `count` more connections, `concurrency` at a time, each
//                                     counted once its subscription's snapshot came: { open, ms }
//   { check: true }                   { open: connections whose state is 'open', lost: drops seen since opened }
//   { cpu: true }                     process.cpuUsage()
//   { stats: true }                   the server's figures, asked over the first connection: { stats }
//   { close: { concurrency } }        closes them all (client side, with the close handshake): { closed, ms }
import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import { connect, type RemoteDatabase } from 'rxkv/client';

const url = process.argv[2]!;
const first = Number(process.argv[3]!);
const reply = (message: object): void => void process.send!(message);
process.on('disconnect', () => process.exit(0));

interface Connection {
  readonly remote: RemoteDatabase;
  readonly watching: Subscription;
  readonly status: Subscription;
}

const connections: Connection[] = [];
/** Connections that went from open to anything else but closed (by us). */
let lost = 0;

/** The key connection `i` subscribes to (the same in the server child). */
function recordKey(i: number): string {
  return `k${String(i).padStart(5, '0')}`;
}

function openOne(i: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const remote = connect(url);
    let opened = false;
    let settled = false;
    const status = remote.status$.subscribe((s) => {
      if (s.state === 'open') opened = true;
      else if (opened && s.state !== 'closed') lost++;
      if (s.state === 'refused' && !settled) {
        settled = true;
        reject(new Error(`connection ${i} refused: ${s.reason}`));
      }
    });
    const watching = remote
      .table('t')
      .watch(recordKey(i))
      .subscribe({
        next: () => {
          if (settled) return;
          settled = true;
          connections.push({ remote, watching, status });
          resolve();
        },
        error: (error) => {
          if (settled) return;
          settled = true;
          reject(error);
        },
      });
  });
}

async function inTurns(count: number, concurrency: number, one: (n: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

process.on('message', async (message: any) => {
  try {
    if (message.open !== undefined) {
      const { count, concurrency } = message.open as { count: number; concurrency: number };
      const started = performance.now();
      const base = first + connections.length;
      await inTurns(count, concurrency, (n) => openOne(base + n));
      reply({ open: connections.length, ms: performance.now() - started });
    } else if (message.check !== undefined) {
      reply({ open: connections.filter((c) => c.remote.status.state === 'open').length, lost });
    } else if (message.cpu !== undefined) {
      reply(process.cpuUsage());
    } else if (message.stats !== undefined) {
      reply({ stats: await connections[0]!.remote.serverStats() });
    } else if (message.close !== undefined) {
      const { concurrency } = message.close as { concurrency: number };
      const started = performance.now();
      const closing = connections.splice(0);
      await inTurns(closing.length, concurrency, async (n) => {
        // Closed as a replica is: its subscription goes with the connection (no unsubscribe first),
        // so the server has to drop its route on the close.
        const { remote, watching, status } = closing[n]!;
        await remote.close();
        watching.unsubscribe();
        status.unsubscribe();
      });
      reply({ closed: closing.length, ms: performance.now() - started });
    } else if (message.stop !== undefined) {
      await Promise.all(connections.splice(0).map(({ remote }) => remote.close()));
      process.exit(0);
    }
  } catch (error) {
    reply({ error: String((error as Error)?.stack ?? error) });
  }
});

reply({ ready: true });
