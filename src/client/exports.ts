export { RemoteDatabase, RemoteTransaction, type ConnectOptions, type ConnectionState, type Status } from './remote-database.js';
export { RemoteTable } from './remote-table.js';
export { ReplicaSnapshot } from './replica.js';
export type { Change, ChangeOp } from '../model/change.js';
export type { ChangeFilter } from '../model/filter.js';
export type { RangeOptions } from '../model/range.js';
export type { Json, JsonObject, MergePatch, Operation } from '../json/types.js';
export { RxkvError, ErrorCode } from '../errors.js';
export { uuid } from '../model/uuid.js';
