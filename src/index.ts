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
export { open, Database, type Durability, type OpenOptions, type TableOptions } from './database.js';
export { TableIndex, type IndexRangeOptions } from './table-index.js';
export { QueryResult, type QuerySpec, type Row } from './query.js';
export type { IndexDefinition, IndexValue } from './engine/secondary-index.js';
export { Table } from './table.js';
export { Transaction, TransactionTable } from './transaction.js';
export { Snapshot, type RangeOptions } from './engine/snapshot.js';
export type { StateSubject } from './engine/table-state.js';
export type { Change, ChangeOp } from './engine/change.js';
export type { RecordMeta } from './engine/entry.js';
export type { WriteOptions } from './engine/arguments.js';
export type { ChangeFilter } from './engine/dispatch.js';
export type { Recipe } from './engine/writes.js';
export type { Json, JsonObject, MergePatch, Operation } from './json/types.js';
export { RxkvError, ErrorCode } from './errors.js';
export { uuid } from './uuid.js';
export { byKey, byPrefix, where, ofOp, pathChanged, squash, toMap } from './operators/index.js';
