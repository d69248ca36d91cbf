import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { open } from 'rxkv';
import { removeTempDirs, tempDir } from './helpers/temp.js';
import { Random } from './helpers/random.js';

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.js', import.meta.url));
const ROUNDS = 6;

/**
 * Runs the writer and kills it with SIGKILL once it has acknowledged `acks` writes, or after
 * `ms` milliseconds (which may land while it is still opening or loading).
 */
async function runAndKill(dir: string, killAt: { acks: number } | { ms: number }): Promise<Map<string, number>> {
  const child = spawn(process.execPath, [WRITER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acks = 'acks' in killAt ? killAt.acks : -1;
  if ('ms' in killAt) setTimeout(() => child.kill('SIGKILL'), killAt.ms);
  const acknowledged = new Map<string, number>(); // "kind key" -> highest n acknowledged
  let count = 0;
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const lines = createInterface({ input: child.stdout! });
  const drained = new Promise((resolve) => lines.once('close', resolve));
  lines.on('line', (line) => {
    if (line === 'ready') return;
    const [kind, key, n] = line.split(' ');
    const id = `${kind} ${key}`;
    acknowledged.set(id, Math.max(acknowledged.get(id) ?? 0, Number(n)));
    if (++count === acks) child.kill('SIGKILL');
  });
  const signal = await exited;
  await drained;
  expect(signal).toBe('SIGKILL');
  return acknowledged;
}

describe('Crash safety', () => {
  afterEach(removeTempDirs);

  it('should find every acknowledged write after kill -9, over several rounds', async () => {
    const dir = tempDir('rxkv-crash');
    const random = new Random(Date.now());
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const killAt = round % 2 === 0 ? { acks: 200 + random.int(5000) } : { ms: random.int(400) };
      const acknowledged = await runAndKill(dir, killAt);
      total += acknowledged.size;
      const db = await open(dir);
      try {
        const a = db.table<{ n: number }>('a');
        const b = db.table<{ n: number }>('b');
        for (const [id, n] of acknowledged) {
          const [kind, key] = id.split(' ') as [string, string];
          const found = a.get(key)?.n ?? 0;
          expect(found).withContext(`round ${round}: ${id}`).toBeGreaterThanOrEqual(n);
          if (kind === 't') expect(b.get(key)?.n).withContext(`round ${round}: transaction ${key} torn`).toBe(found);
        }
        // Every transaction is whole, acknowledged or not.
        for (const [key, value] of b.entries()) expect(a.get(key)?.n).withContext(`torn ${key}`).toBe(value.n);
      } finally {
        await db.close();
      }
    }
    expect(total).toBeGreaterThan(0);
  }, 120_000);
});
