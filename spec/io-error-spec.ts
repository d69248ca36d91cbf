import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const CHILD = fileURLToPath(new URL('./faults/io-error-child.js', import.meta.url));

/**
 * Runs the child, then attaches strace to every one of its threads so that the next fdatasync
 * fails with EIO (later ones succeed), and lets the child go on.
 */
async function runWithFailingSync(dir: string): Promise<Record<string, any>> {
  // strace counts invocations per thread: one thread pool thread makes "the next sync" one sync.
  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
  const lines = createInterface({ input: child.stdout! });
  let onReport: (line: string) => void = () => undefined;
  const report = new Promise<string>((resolve) => (onReport = resolve));
  const ready = new Promise<void>((resolve) => lines.on('line', (line) => (line === 'ready' ? resolve() : onReport(line))));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await ready;
  const strace = spawn('strace', ['-f', '-p', String(child.pid), '-e', 'trace=fdatasync', '-e', 'inject=fdatasync:error=EIO:when=1', '-o', '/dev/null'], {
    stdio: 'ignore',
  });
  // strace reports each thread it attaches to; give it time to reach them all.
  await new Promise((resolve) => setTimeout(resolve, 500));
  child.stdin!.end('go\n');
  const line = await report;
  strace.kill();
  expect(await exited).toBe(0);
  return JSON.parse(line);
}

describe('An I/O error on sync', () => {
  afterEach(removeTempDirs);

  beforeAll(() => {
    if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace is needed (apt-get install -y strace)');
  });

  it('should reject the batch with COMMIT_FAILED, keep memory, stop acknowledging until recover(), then resume', async () => {
    const report = await runWithFailingSync(tempDir('rxkv-eio'));
    // The failing commit and what was queued behind it are rejected, not acknowledged.
    expect(report['failed']).toEqual({ first: 'COMMIT_FAILED', second: 'COMMIT_FAILED' });
    // Memory keeps the last committed state.
    expect(report['memoryAfterFailure']).toEqual({ k0: { n: 0 }, k1: { n: 1 } });
    expect(report['stoppedAfterFailure']).toBeTrue();
    expect(report['errors']).toEqual(['COMMIT_FAILED']);
    // Fail-stop: a write after the failure is refused at once, never acknowledged before recovery.
    expect(report['later']).toBe('COMMIT_FAILED');
    expect(report['laterMs']).toBeLessThan(50);
    // Recovery reopens from disk; writes are acknowledged again and are durable.
    expect(report['afterRecovery']).toBe('acknowledged');
    const durable = report['durable'];
    expect(durable['k3']).toEqual({ n: 103 });
    expect(durable['k2']).toEqual({ n: 2 }); // refused while stopped: never written
    expect(durable['k4']).toEqual({ n: 4 });
    // A rejected write is indeterminate: it may or may not be there.
    expect([0, 100]).toContain(durable['k0'].n);
    expect([1, 101]).toContain(durable['k1'].n);
    // The history goes on when the disk holds what memory showed, and starts again when it does
    // not (the failed batch reached the disk: readers saw a state the database no longer has).
    const reachedDisk = durable['k0'].n === 100 || durable['k1'].n === 101;
    expect(report['history']).toEqual({ changedByRecovery: reachedDisk, keptByReopening: true });
  }, 60_000);
});
