import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseStrace } from './helpers/strace.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./faults/wal-close-child.js', import.meta.url));

/** Whether the WAL was synced after the child wrote its "ending" mark. */
async function walSyncedAtEnd(ending: 'close' | 'exit'): Promise<boolean> {
  const dir = tempDir('rxkv-wal-close');
  const log = join(tempDir('rxkv-wal-close-log'), 'strace.log');
  await run('strace', ['-f', '-ttt', '-T', '-y', '-xx', '-s', '64', '-e', 'trace=write,fdatasync,fsync', '-o', log, process.execPath, CHILD, dir, ending]);
  const calls = parseStrace(readFileSync(log, 'utf8'));
  const mark = calls.find((call) => call.name === 'write' && call.fd === 1 && call.data?.toString().includes('ending'));
  if (mark === undefined) throw new Error('the child did not mark its end');
  return calls.some((call) => (call.name === 'fdatasync' || call.name === 'fsync') && call.path.endsWith('.log') && call.start > mark.end);
}

describe("Closing a database with durability 'wal'", () => {
  afterEach(removeTempDirs);

  it('should sync the WAL, so that what was written survives a power cut after a clean close', async () => {
    expect(await walSyncedAtEnd('close')).toBeTrue();
    // The control: exiting without close() leaves the WAL unsynced.
    expect(await walSyncedAtEnd('exit')).toBeFalse();
  }, 60_000);
});
