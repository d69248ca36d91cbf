import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Database } from 'rxkv';
import { connect } from 'rxkv/client';
import { WebSocket } from 'ws';
import { eventually } from './helpers/sync.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const WRITER = fileURLToPath(new URL('./faults/batch-writer.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function rxkv(...args: string[]): Promise<Run> {
  return rxkvWithInput(undefined, ...args);
}

/** Runs the binary, with `input` on its stdin when given. */
function rxkvWithInput(input: string | undefined, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A database of 200,000 records of about 200 bytes: long enough to dump, load or copy that a signal falls in the middle. */
async function bigDatabase(): Promise<string> {
  const dir = tempDir();
  const db = await open(dir);
  for (let from = 0; from < 200_000; from += 10_000) {
    await db.transaction((tx) => {
      for (let i = from; i < from + 10_000; i++) tx.table('t').put(`k${i}`, { i, text: 'x'.repeat(200) });
    });
  }
  await db.close();
  return dir;
}

/** Every record of a database as [table, key, value, metadata] rows, in order. */
const rows = (db: Database): unknown[] => db.tableNames().flatMap((name) => [...db.table(name).entries()].map(([key, value]) => [name, key, value, db.table(name).meta(key)]));

/** `copy` holds every record of `source` with its metadata, at the same seq, in a history of its own. */
async function expectCopyOf(source: string, copy: string): Promise<void> {
  const [original, copied] = [await open(source), await open(copy)];
  expect(rows(copied)).toEqual(rows(original));
  expect(copied.seq).toBe(original.seq);
  expect(copied.history).not.toBe(original.history);
  await Promise.all([original.close(), copied.close()]);
}

const ndjson = (text: string): any[] => text.trim().split('\n').filter((line) => line !== '').map((line) => JSON.parse(line));

describe('the rxkv command line', () => {
  let dir: string;

  beforeEach(async () => {
    dir = tempDir();
    const db = await open(dir);
    await db.transaction((tx) => {
      for (let i = 0; i < 50; i++) tx.table('people').put(`p${String(i).padStart(2, '0')}`, { i, name: `n${i}` });
      // `__proto__` is a member like any other (JSON.parse makes it an own one).
      tx.table('other').put('x', JSON.parse('{"deep":{"list":[1,"two",null]},"__proto__":{"polluted":true}}'));
    });
    await db.table('people').delete('p10');
    await db.table('people').merge('p11', { changed: true });
    await db.close();
  });

  afterEach(removeTempDirs);

  it('should print its version and a help per command, and exit 2 on a usage error', async () => {
    const version = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')).version;
    expect((await rxkv('--version')).stdout.trim()).toBe(version);
    const help = await rxkv('scan', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--prefix');
    const usage = await rxkv('scan', dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'table'");
    expect((await rxkv('scan', dir, 'people', '--limit', 'lots')).code).toBe(2);
    expect((await rxkv('frobnicate')).code).toBe(2);
  });

  it('should show stats, get a record, and scan a range as NDJSON', async () => {
    const stats = JSON.parse((await rxkv('stats', dir, '--json')).stdout);
    expect(stats).toEqual({
      seq: 3,
      history: jasmine.stringMatching(/^[0-9a-f]{32}$/),
      lastCommit: jasmine.any(String),
      durability: 'sync',
      commitRecord: { flushed: jasmine.any(Number), markers: jasmine.any(Number), watermark: jasmine.any(Number) },
      tables: [{ name: 'other', records: 1, bytes: jasmine.any(Number) }, { name: 'people', records: 49, bytes: jasmine.any(Number) }],
    });
    expect((await rxkv('stats', dir)).stdout).toContain('people\t49 records');
    expect(JSON.parse((await rxkv('get', dir, 'people', 'p11')).stdout)).toEqual({ i: 11, name: 'n11', changed: true });
    const missing = await rxkv('get', dir, 'people', 'p10');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    const scanned = ndjson((await rxkv('scan', dir, 'people', '--gte', 'p05', '--lt', 'p20', '--limit', '4', '--reverse')).stdout);
    expect(scanned.map((row) => row.key)).toEqual(['p19', 'p18', 'p17', 'p16']);
    expect(scanned[0].value).toEqual({ i: 19, name: 'n19' });
    expect(ndjson((await rxkv('scan', dir, 'people', '--prefix', 'p4')).stdout).length).toBe(10);
  });

  it('should dump every record with its metadata, consistent at one seq, to stdout or to a file', async () => {
    const [header, ...records] = ndjson((await rxkv('dump', dir)).stdout);
    const db = await open(dir);
    expect(header).toEqual({ format: 'rxkv-dump', version: 1, seq: 3, history: db.history, tables: ['other', 'people'] });
    expect(records.length).toBe(50);
    const x = records.find((record) => record.key === 'x');
    expect(JSON.stringify(x.value)).toBe('{"deep":{"list":[1,"two",null]},"__proto__":{"polluted":true}}');
    expect({ ...x, value: undefined }).toEqual({ table: 'other', key: 'x', value: undefined, ...db.table('other').meta('x') });
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    const p11 = records.find((record) => record.key === 'p11');
    expect(p11).toEqual({ table: 'people', key: 'p11', value: db.table('people').get('p11'), ...db.table('people').meta('p11') });
    await db.close();
    const out = join(tempDir(), 'dump.ndjson');
    const some = await rxkv('dump', dir, '--tables', 'other', '--out', out);
    expect(some.code).toBe(0);
    expect(some.stdout).toBe('');
    expect(ndjson(readFileSync(out, 'utf8')).length).toBe(2);
  });

  it('should back a database up and restore it, each copy with every record, its metadata and a history of its own', async () => {
    const copy = join(tempDir(), 'copy');
    const restored = join(tempDir(), 'restored');
    expect(JSON.parse((await rxkv('backup', dir, copy)).stdout)).toEqual({ seq: 3, tables: 2, records: 50, bytes: jasmine.any(Number) });
    expect((await rxkv('restore', copy, restored)).code).toBe(0);
    const [source, backup, again] = [await open(dir), await open(copy), await open(restored)];
    expect(rows(backup)).toEqual(rows(source));
    expect(rows(again)).toEqual(rows(source));
    expect(new Set([source.history, backup.history, again.history]).size).toBe(3);
    await Promise.all([source.close(), backup.close(), again.close()]);
    // Never over something.
    const refused = await rxkv('backup', dir, copy);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('INVALID_ARGUMENT');
  });

  it('should say a directory is open elsewhere (DATABASE_LOCKED, with what to do), and never wait', async () => {
    const db = await open(dir);
    for (const args of [['stats', dir], ['get', dir, 'people', 'p01'], ['dump', dir], ['backup', dir, join(tempDir(), 'copy')], ['verify', dir]]) {
      const run = await rxkv(...args);
      expect(run.code).withContext(args[0]!).toBe(1);
      expect(run.stderr).withContext(args[0]!).toContain('DATABASE_LOCKED');
    }
    expect((await rxkv('stats', dir)).stderr).toContain('rxkv watch');
    expect(db.table('people').size).toBe(49);
    await db.close();
  });

  it('should verify a sound database, and refuse one whose WAL lost acknowledged commits with DATABASE_CORRUPTED and the lost seqs', async () => {
    expect(JSON.parse((await rxkv('verify', dir)).stdout)).toEqual({ ok: true, seq: 3, history: jasmine.any(String), tables: 2, records: 50 });
    const damaged = tempDir();
    await new Promise((resolve) => execFile(process.execPath, [WRITER, damaged, '200', ''], resolve));
    const wal = join(damaged, readdirSync(damaged).filter((name) => name.endsWith('.log')).sort().at(-1)!);
    const fd = openSync(wal, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, Math.floor(statSync(wal).size / 2));
    closeSync(fd);
    const run = await rxkv('verify', damaged);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DATABASE_CORRUPTED: .* \(seq \d+-\d+\)/);
    expect((await rxkv('verify', join(damaged, 'nothing-here'))).stderr).toContain('There is no database');
  });

  it('should leave no file that passes for a whole dump when interrupted', async () => {
    const big = await bigDatabase();
    const out = join(tempDir(), 'dump.ndjson');
    const child = spawn(process.execPath, [BIN, 'dump', big, '--out', out], { stdio: 'ignore' });
    await eventually(() => existsSync(out + '.partial') && statSync(out + '.partial').size > 1 << 20, 'the dump to be under way', 20_000);
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(130);
    expect(existsSync(out)).toBeFalse();
    expect(existsSync(out + '.partial')).toBeFalse();
  }, 60_000);

  it('should serve a database and its inspector until SIGTERM, and watch a running server as NDJSON', async () => {
    const server = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0', '--token', 'secret'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let printed = '';
    let told = '';
    server.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
    server.stderr.setEncoding('utf8').on('data', (text: string) => (told += text));
    await eventually(() => printed.includes('\n') && told.includes('\n'), 'the URLs', 10_000);
    const url = printed.trim();
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const inspector = `http://${url.slice('ws://'.length)}/inspector/`;
    expect(told.trim()).toBe(`inspector: ${inspector}`);
    expect(await (await fetch(inspector)).text()).toContain('rxkv inspector');
    const watch = (...args: string[]): { lines: () => unknown[]; stop: () => Promise<unknown> } => {
      const watcher = spawn(process.execPath, [BIN, 'watch', url, '--token', 'secret', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      let watched = '';
      watcher.stdout.setEncoding('utf8').on('data', (text: string) => (watched += text));
      return { lines: () => ndjson(watched), stop: () => (watcher.kill('SIGINT'), new Promise((resolve) => watcher.once('exit', resolve))) };
    };
    const onePrefix = watch('--table', 'people', '--prefix', 'p0');
    const everything = watch();
    const remote = connect(url, { token: 'secret' });
    const table = remote.table('people');
    for (let stats = await remote.serverStats(); stats.subscriptions['people'] !== 1 || stats.subscriptions['*'] !== 1; stats = await remote.serverStats()) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // until both watchers are subscribed
    }
    await table.merge('p01', { watched: true });
    await table.merge('p42', { watched: true }); // outside the prefix
    await remote.table('other').put('x', { n: 1 }); // another table
    await eventually(() => onePrefix.lines().length === 1 && everything.lines().length === 3, 'the changes on the watches', 10_000);
    const [change] = onePrefix.lines();
    expect(change).toEqual({ table: 'people', key: 'p01', op: 'merge', seq: jasmine.any(Number), ts: jasmine.any(Number), patch: [{ op: 'add', path: '/watched', value: true }] });
    expect(everything.lines().map((line: any) => `${line.table}/${line.key}`)).toEqual(['people/p01', 'people/p42', 'other/x']);
    expect(await onePrefix.stop()).toBe(0);
    expect(await everything.stop()).toBe(0);
    await remote.close();
    server.kill('SIGTERM');
    expect(await new Promise((resolve) => server.once('exit', resolve))).toBe(0);
    // Closed cleanly: the writes are there.
    const db = await open(dir);
    expect(db.table('people').get('p01')).toEqual({ i: 1, name: 'n1', watched: true });
    await db.close();
  }, 30_000);

  it('should let browsers connect to rxkv serve only from its own origin (its inspector) and those given with --origin', async () => {
    const server = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0', '--origin', 'https://app.example.com'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let printed = '';
    server.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
    await eventually(() => printed.includes('\n'), 'the URL', 10_000);
    const url = printed.trim();
    const port = new URL(url).port;
    // The HTTP status of a WebSocket upgrade sent with this Origin (101: connected).
    const upgrade = (origin: string | undefined): Promise<number> =>
      new Promise((resolve) => {
        const socket = new WebSocket(url, origin === undefined ? {} : { origin });
        socket.once('open', () => (socket.terminate(), resolve(101)));
        socket.once('unexpected-response', (request, response) => (resolve(response.statusCode ?? 0), request.destroy()));
        socket.once('error', () => undefined);
      });
    // Any site the user visits could otherwise read and write the database through loopback.
    expect(await upgrade('https://evil.example')).toBe(403);
    expect(await upgrade(`http://evil.example:${port}`)).toBe(403); // DNS rebinding: a foreign name on our port
    expect(await upgrade(`http://127.0.0.1:${port}`)).toBe(101); // the inspector's page
    expect(await upgrade(`http://localhost:${port}`)).toBe(101);
    expect(await upgrade('https://app.example.com')).toBe(101);
    expect(await upgrade(undefined)).toBe(101); // not a browser: rxkv watch, Node clients
    server.kill('SIGTERM');
    expect(await new Promise((resolve) => server.once('exit', resolve))).toBe(0);
    const bad = await rxkv('serve', dir, '--origin', 'app.example.com');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('an origin such as https://app.example.com');
  }, 30_000);

  it('should back up a running server over its URL, only when its authorize allows admin', async () => {
    const start = async (...args: string[]): Promise<{ url: string; stop: () => Promise<unknown> }> => {
      const server = spawn(process.execPath, [BIN, 'serve', dir, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
      let printed = '';
      server.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
      await eventually(() => printed.includes('\n'), 'the URL', 10_000);
      return { url: printed.trim(), stop: () => (server.kill('SIGTERM'), new Promise((resolve) => server.once('exit', resolve))) };
    };
    const open1 = await start('--token', 'secret', '--no-inspector');
    const copy = join(tempDir(), 'copy');
    const run = await rxkv('backup', '--url', open1.url, copy, '--token', 'secret');
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ records: 50 });
    await open1.stop();
    await expectCopyOf(dir, copy);
    // Without a token, `rxkv serve` lets anyone read and write, and nobody dump.
    const open2 = await start('--no-inspector');
    expect((await fetch(`http://${open2.url.slice('ws://'.length)}/inspector/`)).status).toBe(426);
    const refused = await rxkv('backup', '--url', open2.url, join(tempDir(), 'refused'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FORBIDDEN');
    await open2.stop();
    expect((await rxkv('backup', '--url', 'ws://127.0.0.1:1', dir)).stderr).toContain('not empty');
  }, 30_000);

  describe('load', () => {
    it('should make a dump loaded into a new directory a database equal to the source, metadata and seq included', async () => {
      const dumpFile = join(tempDir(), 'dump.ndjson');
      expect((await rxkv('dump', dir, '--out', dumpFile)).code).toBe(0);
      const target = join(tempDir(), 'loaded');
      expect(JSON.parse((await rxkv('load', target, dumpFile)).stdout)).toEqual({ records: 50, keptMetadata: true, dryRun: false });
      await expectCopyOf(dir, target);
      // Into an existing database: the records, in durable batches, with new metadata.
      const again = await rxkvWithInput(readFileSync(dumpFile, 'utf8'), 'load', target, '-');
      expect(JSON.parse(again.stdout)).toEqual({ records: 50, keptMetadata: false, dryRun: false });
    });

    for (const { name, bad, reason } of [
      { name: 'a line that is not JSON', bad: '{"table":"t","key":"b",', reason: 'line 3: not JSON' },
      { name: 'a line without a table', bad: '{"key":"b","value":1}', reason: 'line 3: no "table"' },
      { name: 'an invalid key', bad: '{"table":"t","key":"","value":1}', reason: 'line 3: Invalid key' },
      { name: 'fields only under __proto__', bad: '{"__proto__":{"table":"t","key":"b","value":1}}', reason: 'line 3: no "table"' },
      { name: 'an invalid table name', bad: '{"table":"no/slash","key":"b","value":1}', reason: 'line 3: Invalid table name' },
    ]) {
      it(`should stop at ${name} with its line number and reason, writing nothing of its batch`, async () => {
        const target = tempDir();
        const input = ['{"table":"t","key":"a","value":{"__proto__":{"x":1}}}', '{"table":"t","key":"c","value":2}', bad, '{"table":"t","key":"d","value":3}'].join('\n');
        const run = await rxkvWithInput(input, 'load', target, '-');
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(reason);
        expect(run.stderr).toContain('INVALID_ARGUMENT');
        const db = await open(target);
        expect(db.table('t').size).toBe(0);
        await db.close();
        expect(({} as { x?: number }).x).toBeUndefined();
      });
    }

    it('should only check the lines with --dry-run, and store __proto__ members as data', async () => {
      const target = tempDir();
      const input = '{"table":"t","key":"a","value":{"__proto__":{"x":1}}}\n{"table":"t","key":"b","value":[1]}\n';
      expect(JSON.parse((await rxkvWithInput(input, 'load', target, '--dry-run')).stdout)).toEqual({ records: 2, keptMetadata: false, dryRun: true });
      expect(readdirSync(target)).toEqual([]);
      expect((await rxkvWithInput(input, 'load', target)).code).toBe(0);
      const db = await open(target);
      expect(JSON.stringify(db.table('t').get('a'))).toBe('{"__proto__":{"x":1}}');
      await db.close();
    });

    it('should leave a load into a new directory killed in the middle unopenable (or absent), never a partial database', async () => {
      const big = await bigDatabase();
      const dumpFile = join(tempDir(), 'dump.ndjson');
      expect((await rxkv('dump', big, '--out', dumpFile)).code).toBe(0);
      const target = join(tempDir(), 'loaded');
      const child = spawn(process.execPath, [BIN, 'load', target, dumpFile], { stdio: 'ignore' });
      await eventually(() => existsSync(join(target, 'CURRENT')), 'the load to be under way', 20_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      if (existsSync(join(target, 'CURRENT'))) {
        const opened = await open(target).then(
          async (loaded) => {
            const size = loaded.table('t').size;
            await loaded.close();
            return size;
          },
          (error: { code?: string }) => error.code ?? 'unknown',
        );
        console.log(`\n[cli] rxkv load killed in the middle: the target ${typeof opened === 'string' ? 'refuses to open (' + opened + ')' : 'holds ' + opened + ' records'}`);
        // Either it refuses, or (the kill came after the last batch) it is whole.
        expect([200_000, 'DATABASE_CORRUPTED']).toContain(opened);
      }
    }, 60_000);
  });
});
