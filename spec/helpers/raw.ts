// Reads a database directory with the RocksDB binding directly, bypassing rxkv, so that a spec
// can compare what rxkv loaded into memory with what is on disk. Knows the on-disk layout:
// 'r' + table + '\0' + key -> '[version,created,updated,value]'.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const rocksdb = require('rocksdb');

export interface RawRecord {
  value: unknown;
  version: number;
  created: number;
  updated: number;
}

export async function readRaw(dir: string): Promise<Map<string, Map<string, RawRecord>>> {
  const db = rocksdb(dir);
  await new Promise<void>((resolve, reject) => db.open({ createIfMissing: false }, (error: Error | null) => (error ? reject(error) : resolve())));
  const tables = new Map<string, Map<string, RawRecord>>();
  const iterator = db.iterator({ gte: 'r', lt: 's', keyAsBuffer: false, valueAsBuffer: false });
  for (;;) {
    const [key, value] = await new Promise<[string | undefined, string | undefined]>((resolve, reject) =>
      iterator.next((error: Error | null, k?: string, v?: string) => (error ? reject(error) : resolve([k, v]))),
    );
    if (key === undefined) break;
    const split = key.indexOf('\u0000');
    const table = key.slice(1, split);
    const [version, created, updated, record] = JSON.parse(value!) as [number, number, number, unknown];
    if (!tables.has(table)) tables.set(table, new Map());
    tables.get(table)!.set(key.slice(split + 1), { value: record, version, created, updated });
  }
  await new Promise<void>((resolve) => iterator.end(() => resolve()));
  await new Promise<void>((resolve, reject) => db.close((error: Error | null) => (error ? reject(error) : resolve())));
  return tables;
}

/** Writes records and the seq straight into RocksDB, as an rxkv from before the commit record did. */
export async function writeLegacy(dir: string, table: string, records: Record<string, unknown>, seq: number): Promise<void> {
  const db = rocksdb(dir);
  await new Promise<void>((resolve, reject) => db.open({ createIfMissing: true }, (error: Error | null) => (error ? reject(error) : resolve())));
  const ops = Object.entries(records).map(([key, value], i) => ({ type: 'put', key: `r${table}\u0000${key}`, value: JSON.stringify([i + 1, 1, 1, value]) }));
  ops.push({ type: 'put', key: 'mseq', value: String(seq) });
  await new Promise<void>((resolve, reject) => db.batch(ops, { sync: true }, (error: Error | null) => (error ? reject(error) : resolve())));
  await new Promise<void>((resolve, reject) => db.close((error: Error | null) => (error ? reject(error) : resolve())));
}
