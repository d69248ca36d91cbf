import { execFile } from 'node:child_process';
import { appendFileSync, openSync, readdirSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'rxkv';
import { rejectedCode } from './helpers/db.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';
import { writeLegacy } from './helpers/raw.js';

const WRITER = fileURLToPath(new URL('./faults/batch-writer.js', import.meta.url));

/** Runs the writer to its own kill -9; returns the seq it had reached (all acknowledged). */
function writeAndDie(dir: string, batches: number, settle = false): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WRITER, dir, String(batches), settle ? 'settle' : ''], (error, stdout) => {
      if (error && error.signal !== 'SIGKILL') reject(error);
      else resolve(Number(stdout.trim()));
    });
  });
}

function wal(dir: string): string {
  const logs = readdirSync(dir).filter((name) => name.endsWith('.log')).sort();
  return join(dir, logs.at(-1)!);
}

describe('WAL damage', () => {
  afterEach(removeTempDirs);

  it('should reopen cleanly after a kill -9 with every acknowledged write', async () => {
    const dir = tempDir('rxkv-wal');
    const seq = await writeAndDie(dir, 100);
    const db = await open(dir);
    expect(db.seq).toBe(seq);
    expect(db.table('t').size).toBe(500);
    expect(db.salvaged).toEqual([]);
    await db.close();
  });

  it('should open a database written before rxkv kept a commit record, and keep one from then on', async () => {
    const dir = tempDir('rxkv-wal');
    await writeLegacy(dir, 't', { a: { n: 1 }, b: { n: 2 } }, 8);
    const db = await open(dir);
    expect([...db.table('t').entries()]).toEqual([['a', { n: 1 }], ['b', { n: 2 }]]);
    expect(db.seq).toBe(8);
    await db.table('t').put('c', { n: 3 });
    await db.close();
    const again = await open(dir);
    expect(again.table('t').size).toBe(3);
    await again.close();
  });

  it('should reopen cleanly after a torn tail (an unfinished record after the last commit)', async () => {
    const dir = tempDir('rxkv-wal');
    const seq = await writeAndDie(dir, 100);
    appendFileSync(wal(dir), Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b]));
    const db = await open(dir);
    expect(db.seq).toBe(seq);
    expect(db.table('t').size).toBe(500);
    await db.close();
  });

  it('should refuse to open over a hole in the WAL with DATABASE_CORRUPTED, and salvage what survived on request', async () => {
    const dir = tempDir('rxkv-wal');
    const created = await open(dir);
    const history = created.history;
    await created.close();
    const seq = await writeAndDie(dir, 200);
    const file = wal(dir);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, Math.floor(statSync(file).size / 2));
    closeSync(fd);
    // RocksDB alone opens this without complaint, skipping the damaged block and replaying the rest.
    expect(await rejectedCode(open(dir))).toBe('DATABASE_CORRUPTED');
    const salvaged = await open(dir, { salvage: true });
    expect(salvaged.salvaged.length).toBe(1);
    const [[from, to]] = salvaged.salvaged as [[number, number]];
    expect(from).toBeGreaterThan(1);
    expect(to).toBeLessThan(seq);
    expect(salvaged.seq).toBe(seq); // the commits after the hole survived
    expect(salvaged.table('t').size).toBe(1000 - (to - from + 1));
    // Commits were given up: the history its readers followed cannot go on.
    expect(salvaged.history).not.toBe(history);
    await salvaged.close();
    // Salvaged once, the database opens normally afterwards, in the salvaged history.
    const again = await open(dir);
    expect(again.salvaged).toEqual([]);
    expect(again.history).toBe(salvaged.history);
    await again.close();
  });

  it('should refuse to open a WAL whose acknowledged tail was cut, below the synced watermark', async () => {
    const dir = tempDir('rxkv-wal');
    const seq = await writeAndDie(dir, 100, true);
    const file = wal(dir);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expect(await rejectedCode(open(dir))).toBe('DATABASE_CORRUPTED');
    const salvaged = await open(dir, { salvage: true });
    const [[, to]] = salvaged.salvaged as [[number, number]];
    expect(to).toBe(seq);
    await salvaged.close();
  });
});
