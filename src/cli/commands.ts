import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '../client/node.js';
import { open, verify, type Database } from '../db/database.js';
import { dump as dumpDatabase, isFreshDestination, loadDump, writeLine as line } from '../db/dump.js';
import { ErrorCode, RxkvError, fail } from '../errors.js';
import type { ChangeOp } from '../model/change.js';
import type { RangeOptions } from '../model/range.js';
import type { Access } from '../server/options.js';
import { serve } from '../server/server.js';
import { progress } from './progress.js';

/** Opens an existing database for a command: a missing one is an error, a locked one says what to do instead. */
async function openExisting(dir: string): Promise<Database> {
  if (!existsSync(join(dir, 'CURRENT'))) fail(ErrorCode.INVALID_ARGUMENT, `There is no database at ${dir}.`);
  try {
    return await open(dir);
  } catch (error) {
    if (error instanceof RxkvError && error.code === ErrorCode.DATABASE_LOCKED) {
      throw new RxkvError(ErrorCode.DATABASE_LOCKED, `${error.message} A running database is read and backed up through its sync server: rxkv watch URL --table T, rxkv backup --url URL DEST.`, { cause: error });
    }
    throw error;
  }
}

async function withDatabase<T>(dir: string, use: (db: Database) => Promise<T> | T): Promise<T> {
  const db = await openExisting(dir);
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

export function stats(dir: string, json: boolean): Promise<void> {
  return withDatabase(dir, async (db) => {
    let lastCommit = 0;
    const tables = db.tableNames().map((name) => {
      const table = db.table(name);
      let bytes = 0;
      for (const [key, value] of table.entries()) {
        bytes += key.length + JSON.stringify(value).length;
        lastCommit = Math.max(lastCommit, table.meta(key)!.updated);
      }
      return { name, records: table.size, bytes };
    });
    const report = {
      seq: db.seq,
      history: db.history,
      lastCommit: lastCommit === 0 ? null : new Date(lastCommit).toISOString(),
      durability: db.durability,
      commitRecord: db.commitRecord,
      tables,
    };
    if (json) return line(process.stdout, JSON.stringify(report));
    const { flushed, markers, watermark } = report.commitRecord;
    await line(process.stdout, `seq ${report.seq}, history ${report.history}, last write ${report.lastCommit ?? 'none'}`);
    await line(process.stdout, `commit record at opening: flushed to seq ${flushed ?? 'unknown'}, ${markers} batches marked since, watermark ${watermark}`);
    for (const table of tables) await line(process.stdout, `${table.name}\t${table.records} records\t~${table.bytes} bytes`);
  });
}

export function get(dir: string, table: string, key: string): Promise<void> {
  return withDatabase(dir, async (db) => {
    const value = db.table(table).get(key);
    if (value === undefined) {
      process.stderr.write(`rxkv: no record ${table}/${key}\n`);
      process.exitCode = 1;
      return;
    }
    await line(process.stdout, JSON.stringify(value));
  });
}

export function scan(dir: string, table: string, options: RangeOptions): Promise<void> {
  return withDatabase(dir, async (db) => {
    const { prefix, gt, gte, lt, lte, limit, reverse } = options;
    for (const [key, value] of db.table(table).range({ prefix, gt, gte, lt, lte, limit, reverse: reverse === true })) {
      await line(process.stdout, JSON.stringify({ key, value }));
    }
  });
}

/**
 * The dump (see db/dump.ts), as of one commit. With `out`, it goes to
 * `out.partial` and is renamed to `out` once complete: an interrupted dump leaves no file that
 * passes for a whole one.
 */
export function dump(dir: string, options: { tables?: string[]; out?: string }): Promise<void> {
  return withDatabase(dir, async (db) => {
    const partial = options.out === undefined ? undefined : options.out + '.partial';
    const stream = partial === undefined ? process.stdout : createWriteStream(partial);
    const interrupted = (): void => {
      if (partial !== undefined) void rm(partial, { force: true }).finally(() => process.exit(130));
      else process.exit(130);
    };
    process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
    const bar = progress('dump');
    try {
      await dumpDatabase(db, stream, { ...(options.tables === undefined ? {} : { tables: options.tables }), progress: (records, total) => bar.update(records, total) });
      if (partial !== undefined) {
        await new Promise<void>((resolve, reject) => (stream as ReturnType<typeof createWriteStream>).end((error?: Error | null) => (error ? reject(error) : resolve())));
        await rename(partial, options.out!);
      }
    } catch (error) {
      if (partial !== undefined) await rm(partial, { force: true });
      throw error;
    } finally {
      bar.stop();
      process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    }
  });
}

/** Loads a dump (or plain `{ table, key, value }` lines) from `file` (`-`: stdin) into `dir`. */
export async function load(dir: string, file: string, options: { dryRun?: boolean }): Promise<void> {
  if (file !== '-' && !existsSync(file)) fail(ErrorCode.INVALID_ARGUMENT, `There is no file ${file}.`);
  const input = file === '-' ? process.stdin : createReadStream(file);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const bar = progress('load');
  try {
    const loaded = await loadDump(dir, lines, { dryRun: options.dryRun === true, progress: (records) => bar.update(records, records) });
    bar.stop();
    await line(process.stdout, JSON.stringify(loaded));
  } finally {
    bar.stop();
    lines.close();
  }
}

export function backup(dir: string, dest: string): Promise<void> {
  return withDatabase(dir, async (db) => {
    const bar = progress('backup');
    try {
      const result = await db.backup(dest, { progress: ({ records, total }) => bar.update(records, total) });
      bar.stop();
      await line(process.stdout, JSON.stringify(result));
    } finally {
      bar.stop();
    }
  });
}

/** A backup of a running server, over the sync protocol: its dump, loaded into `dest` with every record's metadata. */
export async function backupServer(url: string, dest: string, token: string | undefined): Promise<void> {
  if (!(await isFreshDestination(dest))) fail(ErrorCode.INVALID_ARGUMENT, `${dest} is not empty: back up into a new or empty directory (nothing was written).`);
  const remote = connect(url, { ...(token === undefined ? {} : { token }), reconnect: { minDelay: 100, maxDelay: 1000 } });
  const bar = progress('backup');
  try {
    const loaded = await loadDump(dest, remote.dump(), { progress: (records) => bar.update(records, records) });
    bar.stop();
    await line(process.stdout, JSON.stringify({ records: loaded.records }));
  } finally {
    bar.stop();
    await remote.close();
  }
}

/** A backup is a database: restoring copies it again, so that the restored one has a history of its own. */
export function restore(from: string, dir: string): Promise<void> {
  return backup(from, dir);
}

export async function verifyDirectory(dir: string): Promise<void> {
  const verified = await verify(dir);
  if (verified.missing.length > 0) {
    const ranges = verified.missing.map(([first, last]) => (first === last ? `${first}` : `${first}-${last}`)).join(', ');
    throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `${dir} is missing commits it once acknowledged (seq ${ranges}): restore a backup, or open it with { salvage: true } to keep what survived.`);
  }
  await line(process.stdout, JSON.stringify({ ok: true, seq: verified.seq, history: verified.history, tables: verified.tables, records: verified.records }));
}

export async function serveDirectory(dir: string, options: { host: string; port: number; token?: string; inspector: boolean; origin: string[] }): Promise<void> {
  const db = await open(dir);
  const { token } = options;
  // Listening first: the origins a browser may connect from are this server's own, port included.
  const http = createServer((_request, response) => response.writeHead(426, { 'content-type': 'text/plain' }).end('A WebSocket endpoint: connect with rxkv/client or rxkv watch.\n'));
  await new Promise<void>((resolve, reject) => http.once('error', reject).listen(options.port, options.host, resolve));
  const { port } = http.address() as AddressInfo;
  const server = await serve(db, {
    server: http,
    inspector: options.inspector,
    // Without this, any web page the user visits could read and write through loopback (and a
    // DNS-rebound name on this port too): browsers may connect only from the inspector's origin and
    // those given. Clients that are not browsers send no Origin and are let through.
    origins: [...ownOrigins(options.host, port), ...options.origin],
    // With a token, whoever presents it may do anything, backups included; without, anyone may
    // read and write, and nobody may dump the database.
    ...(token === undefined
      ? { authorize: (_principal: unknown, access: Access) => access.action !== 'admin' }
      : { authenticate: (hello: { token: string | undefined }) => (hello.token === token ? { token } : null), authorize: () => true }),
  });
  const host = urlHost(options.host);
  await line(process.stdout, `ws://${host}:${port}`);
  if (options.inspector) await line(process.stderr, `inspector: http://${host}:${port}/inspector/`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  await server.close();
  await new Promise((resolve) => http.close(resolve));
  await db.close();
}

/** The origins of pages served by a server listening on `host`: on every interface for a wildcard, `localhost` with loopback. */
function ownOrigins(host: string, port: number): string[] {
  const wildcard = host === '0.0.0.0' || host === '::';
  const names = wildcard ? Object.values(networkInterfaces()).flatMap((addresses) => (addresses ?? []).map(({ address }) => address)) : [host];
  if (wildcard || names.some((name) => name === 'localhost' || name === '::1' || name.startsWith('127.'))) names.push('localhost');
  return names.map((name) => `http://${urlHost(name)}${port === 80 ? '' : `:${port}`}`);
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function watch(url: string, options: { table?: string; prefix?: string; ops?: string[]; token?: string }): Promise<void> {
  const remote = connect(url, options.token === undefined ? {} : { token: options.token });
  const { table, prefix } = options;
  const ops = options.ops as ChangeOp[] | undefined;
  await new Promise<void>((resolve, reject) => {
    // A change stream without a replica: the server sends no snapshot, only what changes.
    const subscription = remote
      .changes({ ...(table === undefined ? {} : { table }), ...(prefix === undefined ? {} : { prefix }), ...(ops === undefined ? {} : { ops }) })
      .subscribe({
        next: ({ table, key, op, seq, ts, patch }) => void line(process.stdout, JSON.stringify({ table, key, op, seq, ts, patch })),
        error: reject,
        complete: resolve,
      });
    const stop = (): void => {
      subscription.unsubscribe();
      resolve();
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  }).finally(() => remote.close());
}
