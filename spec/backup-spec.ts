import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type BackupProgress, type Database } from 'rxkv';
import { rejectedCode, thrownCode } from './helpers/db.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const CHILD = fileURLToPath(new URL('./crash/backup-child.js', import.meta.url));

/** Every table of a database as [table, key, value, meta] rows, in order. */
function rows(db: Database, tables = db.tableNames()): unknown[] {
  return tables.flatMap((name) => [...db.table(name).entries()].map(([key, value]) => [name, key, value, db.table(name).meta(key)]));
}

describe('db.backup(dest)', () => {
  const opened: Database[] = [];
  const track = (db: Database): Database => (opened.push(db), db);

  afterEach(async () => {
    for (const db of opened.splice(0)) if (!db.closed) await db.close();
    removeTempDirs();
  });

  it('should write a copy that opens with every table as of the backup, records metadata included, in a history of its own', async () => {
    const db = track(await open(tempDir()));
    await db.table('a').put('x', { n: 1 });
    await db.table('b').merge('y', { deep: { list: [1, 2] } });
    await db.table('a').merge('x', { m: 2 });
    await db.table('b').put('gone', { n: 0 });
    await db.table('b').delete('gone');
    const dest = join(tempDir(), 'copy');
    const result = await db.backup(dest);
    expect(result).toEqual({ seq: db.seq, tables: 2, records: 2, bytes: jasmine.any(Number) });
    const copy = track(await open(dest));
    expect(copy.seq).toBe(db.seq);
    expect(copy.tableNames()).toEqual(['a', 'b']);
    expect(rows(copy)).toEqual(rows(db));
    expect(copy.history).not.toBe(db.history);
    // The copy is a database of its own: it takes writes, and the source does not see them.
    await copy.table('a').put('z', { n: 3 });
    expect(db.table('a').has('z')).toBeFalse();
  });

  it('should copy the state of one commit while writers go on writing, and report its progress', async () => {
    const db = track(await open(tempDir()));
    await db.transaction((tx) => {
      for (let i = 0; i < 20_000; i++) tx.table(i % 2 ? 'odd' : 'even').put(`k${i}`, { i });
    });
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        await Promise.all([db.table('odd').merge(`k${(n * 2 + 1) % 20_000}`, { n }), db.table('even').delete(`k${(n * 4) % 20_000}`), db.table('new').put(`n${n}`, { n })]);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const dest = join(tempDir(), 'copy');
    const seen: BackupProgress[] = [];
    // The state the backup takes is this one: taken in the same turn of the event loop.
    const expected = rows(db, db.tableNames());
    const seq = db.seq;
    const result = await db.backup(dest, { progress: (progress) => seen.push(progress) });
    writing = false;
    await writer;
    expect(result.seq).toBe(seq);
    expect(db.seq).toBeGreaterThan(seq + 10); // the writers went on while it copied
    const copy = track(await open(dest));
    expect(rows(copy, copy.tableNames())).toEqual(expected);
    expect(result.records).toBe(expected.length);
    expect(seen.at(0)).toEqual({ records: 0, total: expected.length, bytes: 0 });
    expect(seen.at(-1)).toEqual({ records: expected.length, total: expected.length, bytes: result.bytes });
    expect(seen.length).toBeGreaterThan(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.records).toBeGreaterThanOrEqual(seen[i - 1]!.records);
  });

  it('should refuse a destination that is not empty, or a file, or the database itself, and write nothing', async () => {
    const dir = tempDir();
    const db = track(await open(dir));
    await db.table('t').put('k', { n: 1 });
    const full = tempDir();
    writeFileSync(join(full, 'precious.txt'), 'keep me');
    expect(await rejectedCode(db.backup(full))).toBe('INVALID_ARGUMENT');
    expect(readdirSync(full)).toEqual(['precious.txt']);
    const file = join(tempDir(), 'file');
    writeFileSync(file, 'a file');
    expect(await rejectedCode(db.backup(file))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => db.backup(dir))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => db.backup(42 as never))).toBe('INVALID_ARGUMENT');
    expect(thrownCode(() => db.backup(join(full, 'x'), { progress: 'no' as never }))).toBe('INVALID_ARGUMENT');
    // An empty directory is fine.
    const empty = tempDir();
    mkdirSync(join(empty, 'here'));
    expect((await db.backup(join(empty, 'here'))).records).toBe(1);
  });

  it('should let close() wait for a backup under way, which completes', async () => {
    const db = track(await open(tempDir()));
    await db.transaction((tx) => {
      for (let i = 0; i < 20_000; i++) tx.table('t').put(`k${i}`, { i });
    });
    const dest = join(tempDir(), 'copy');
    const backup = db.backup(dest);
    await db.close();
    expect((await backup).records).toBe(20_000);
    expect(track(await open(dest)).table('t').size).toBe(20_000);
    expect(thrownCode(() => db.backup(join(tempDir(), 'late')))).toBe('DATABASE_CLOSED');
  });

  it('should leave a copy that refuses to open when its process is killed in the middle, and the source intact', async () => {
    const dir = tempDir();
    const dest = join(tempDir(), 'copy');
    const child = spawn(process.execPath, [CHILD, dir, dest, '100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let filled = 0;
    await new Promise<void>((resolve) => {
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        filled = Number(/filled (\d+)/.exec(text)?.[1] ?? 0);
        const copied = [...text.matchAll(/progress (\d+)/g)].map((match) => Number(match[1]));
        if (copied.some((records) => records >= 20_000)) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(dest)).toBeTrue();
    expect(await rejectedCode(open(dest))).toBe('DATABASE_CORRUPTED');
    const source = track(await open(dir));
    expect(source.seq).toBe(filled);
    expect(source.table('t').size).toBe(100_000);
  }, 60_000);
});
