/**
 * rxkv: an embedded, durable, reactive key-value database for Node.js.
 *
 * @example
 * import { open, uuid } from 'rxkv';
 * const db = await open('./data');
 * const accounts = db.table('accounts');
 * const id = uuid();
 * await accounts.merge(id, { username: 'roaringtt', profile: { age: 376 } });
 * accounts.changes().subscribe((change) => console.log(change.op, change.patch));
 */
export { open, verify, Database, type Verified, type BackupOptions, type BackupProgress, type BackupResult, type Durability, type OpenOptions, type TableOptions } from './db/database.js';
export { dump, loadDump, type DumpHeader, type LoadResult } from './db/dump.js';
export { Table } from './db/table.js';
export { Transaction, TransactionTable } from './db/transaction.js';
export { TableIndex, type IndexRangeOptions } from './db/table-index.js';
export { QueryResult, type QuerySpec, type Row } from './db/query.js';
export type { WriteOptions } from './db/arguments.js';
export type { IndexDefinition, IndexValue } from './engine/secondary-index.js';
export { Snapshot } from './engine/snapshot.js';
export type { StateSubject } from './engine/table-state.js';
export type { Recipe } from './engine/writes.js';
export type { ClusterOptions } from './cluster/options.js';
export type { Change, ChangeOp } from './model/change.js';
export type { ChangeFilter } from './model/filter.js';
export type { RangeOptions } from './model/range.js';
export type { RecordMeta } from './model/record.js';
export { uuid } from './model/uuid.js';
export type { Json, JsonObject, MergePatch, Operation } from './json/types.js';
export { RxkvError, ErrorCode } from './errors.js';
export { byKey, byPrefix, where, ofOp, pathChanged, squash, toMap } from './operators/index.js';
