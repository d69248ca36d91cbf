/**
 * The dump format: NDJSON, a header line `{ format: 'rxkv-dump', version, seq, history, tables }`
 * then one line a record `{ table, key, value, version, created, updated }`, all as of commit
 * `seq`. Loading also takes plain `{ table, key, value }` lines (no header, no metadata).
 */
import { createDatabase } from '../engine/lifecycle.js';
import type { CopiedRecord } from '../engine/copy.js';
import { isFreshDestination } from '../engine/copy.js';

export { isFreshDestination };
import { ErrorCode, RxkvError, fail } from '../errors.js';
import type { Json } from '../json/types.js';
import { toFrozenJson } from '../json/validate.js';
import { checkKey, checkTableName } from '../model/keys.js';
import { Entry, type RecordMeta } from '../model/record.js';
import type { Writable } from 'node:stream';
import { open, type Database } from './database.js';

export const DUMP_FORMAT = 1;

export interface DumpHeader {
  readonly format: 'rxkv-dump';
  readonly version: number;
  readonly seq: number;
  readonly history: string;
  readonly tables: readonly string[];
}

/** A record line: its metadata when it comes from a dump. */
export interface DumpRecord {
  readonly table: string;
  readonly key: string;
  readonly value: Json;
  readonly meta: RecordMeta | undefined;
}

/**
 * Writes the dump of `db` (or of some of its tables) to `output`, as of the commit of the call:
 * the snapshots are taken at once, so writes may go on while it is written. Resolves with the
 * dump's seq and how many records it holds.
 *
 * @example
 * await dump(db, createWriteStream('data.ndjson'));
 */
export async function dump(db: Database, output: Writable, options: { tables?: readonly string[]; progress?: (records: number, total: number) => void } = {}): Promise<{ seq: number; records: number }> {
  const { seq, total, lines } = dumpLines(db, options.tables);
  let records = -1; // the header is not a record
  for (const text of lines) {
    await writeLine(output, text);
    if (++records % 1000 === 0 && records > 0) options.progress?.(records, total);
  }
  options.progress?.(records, total);
  return { seq, records };
}

/**
 * The lines of a dump of `db` (or of some of its tables): the header, then the records. The
 * snapshots are taken in the call, so the lines are those of its commit however long they take.
 */
export function dumpLines(db: Database, tables?: readonly string[]): { seq: number; total: number; lines: Generator<string> } {
  const names = tables ?? db.tableNames();
  const snapshots = names.map((name) => db.table(name).snapshot());
  const header: DumpHeader = { format: 'rxkv-dump', version: DUMP_FORMAT, seq: db.seq, history: db.history, tables: names };
  const total = snapshots.reduce((sum, snapshot) => sum + snapshot.size, 0);
  // The key lists are taken now, while the snapshots are current: commits while the lines are
  // read never make a snapshot rebuild its keys (see Snapshot.range).
  const ranges = snapshots.map((snapshot) => [snapshot, snapshot.range()] as const);
  return {
    seq: header.seq,
    total,
    lines: (function* () {
      yield JSON.stringify(header);
      for (const [snapshot, range] of ranges) {
        for (const [key, value] of range) {
          const { version, created, updated } = snapshot.meta(key)!;
          yield JSON.stringify({ table: snapshot.table, key, value, version, created, updated });
        }
      }
    })(),
  };
}

/** Writes a line, waiting while the stream is full. */
export async function writeLine(output: Writable, text: string): Promise<void> {
  if (!output.write(text + '\n')) await new Promise((resolve) => output.once('drain', resolve));
}

/** How a load went: the records written (or, in a dry run, checked) and whether their metadata was kept. */
export interface LoadResult {
  readonly records: number;
  readonly keptMetadata: boolean;
  readonly dryRun: boolean;
}

const BATCH_LINES = 1000;

/**
 * Loads dump (or plain `{ table, key, value }`) lines into the database at `dir`. Into a new or empty directory, a dump
 * becomes a database of its own with every record's metadata and the dump's seq, all or nothing
 * (an interrupted load refuses to open, a failed one is removed). Into an existing database, the
 * records are put in durable batches of 1,000 lines (new metadata); a bad line stops the load, and
 * nothing of its batch is written. `dryRun` only checks the lines.
 */
export async function loadDump(dir: string, lines: AsyncIterable<string>, options: { dryRun?: boolean; progress?: (records: number) => void } = {}): Promise<LoadResult> {
  const iterator = numbered(lines);
  const first = await iterator.next();
  const header = first.done === true ? undefined : parseHeader(first.value[1]);
  const records = (async function* (): AsyncGenerator<[number, DumpRecord]> {
    if (first.done === true) return;
    if (header === undefined) yield [first.value[0], parseRecord(first.value[1], first.value[0], undefined)];
    for await (const [number, text] of iterator) if (text.trim() !== '') yield [number, parseRecord(text, number, header)];
  })();
  if (options.dryRun === true) {
    let count = 0;
    for await (const _ of records) count++;
    return { records: count, keptMetadata: header !== undefined, dryRun: true };
  }
  if (header !== undefined && (await isFreshDestination(dir))) {
    const result = await createDatabase(dir, entries(records), header.seq, options.progress);
    return { records: result.records, keptMetadata: true, dryRun: false };
  }
  const db = await open(dir);
  let count = 0;
  try {
    let batch: DumpRecord[] = [];
    const flush = async (): Promise<void> => {
      const writing = batch;
      batch = [];
      await db.transaction((tx) => {
        for (const { table, key, value } of writing) tx.table(table).put(key, value);
      });
      count += writing.length;
      options.progress?.(count);
    };
    for await (const [, record] of records) {
      batch.push(record);
      if (batch.length === BATCH_LINES) await flush();
    }
    if (batch.length > 0) await flush();
    return { records: count, keptMetadata: false, dryRun: false };
  } catch (error) {
    const code = error instanceof RxkvError ? error.code : ErrorCode.INVALID_ARGUMENT;
    throw new RxkvError(code, `${(error as Error).message} ${count} records were loaded before it, in durable batches; nothing of its batch was written.`, { cause: error });
  } finally {
    await db.close();
  }
}

async function* entries(records: AsyncIterable<[number, DumpRecord]>): AsyncGenerator<CopiedRecord> {
  for await (const [number, { table, key, value, meta }] of records) {
    if (meta === undefined) fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: a record of a dump needs its version, created and updated.`);
    yield { table, key, entry: new Entry(value, meta.created, meta.updated, meta.version) };
  }
}

async function* numbered(lines: AsyncIterable<string>): AsyncGenerator<[number, string]> {
  let number = 0;
  for await (const text of lines) yield [++number, text];
}

type Fields = Record<string, unknown>;
const own = (fields: Fields, name: string): unknown => (Object.hasOwn(fields, name) ? fields[name] : undefined);

function parseObject(text: string, number: number): Fields {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: not JSON.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: not a JSON object.`);
  return parsed as Fields;
}

/** The header, if the first line is one. */
function parseHeader(text: string): DumpHeader | undefined {
  const fields = parseObject(text, 1);
  if (own(fields, 'format') !== 'rxkv-dump') return undefined;
  const version = own(fields, 'version');
  const seq = own(fields, 'seq');
  if (version !== DUMP_FORMAT) fail(ErrorCode.INVALID_ARGUMENT, `line 1: a dump of format version ${String(version)}; this rxkv reads version ${DUMP_FORMAT}.`);
  if (!(Number.isSafeInteger(seq) && (seq as number) >= 0)) fail(ErrorCode.INVALID_ARGUMENT, 'line 1: the header needs "seq", a non-negative integer.');
  return fields as unknown as DumpHeader;
}

function parseRecord(text: string, number: number, header: DumpHeader | undefined): DumpRecord {
  const fields = parseObject(text, number);
  const at = (check: () => unknown): void => {
    try {
      check();
    } catch (error) {
      fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: ${(error as Error).message}`);
    }
  };
  const table = own(fields, 'table');
  const key = own(fields, 'key');
  const value = own(fields, 'value');
  if (table === undefined) fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: no "table".`);
  if (value === undefined) fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: no "value".`);
  at(() => checkTableName(table));
  at(() => checkKey(key));
  let frozen: Json = null;
  at(() => (frozen = toFrozenJson(value, Number.POSITIVE_INFINITY)));
  const version = own(fields, 'version');
  const created = own(fields, 'created');
  const updated = own(fields, 'updated');
  if (version === undefined && created === undefined && updated === undefined) return { table: table as string, key: key as string, value: frozen, meta: undefined };
  for (const [name, field] of [['version', version], ['created', created], ['updated', updated]] as const) {
    if (!(Number.isSafeInteger(field) && (field as number) >= 0)) fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: "${name}" must be a non-negative integer.`);
  }
  if (header !== undefined && (version as number) > header.seq) fail(ErrorCode.INVALID_ARGUMENT, `line ${number}: version ${String(version)} is past the dump's seq ${header.seq}.`);
  return { table: table as string, key: key as string, value: frozen, meta: { version: version as number, created: created as number, updated: updated as number } };
}

