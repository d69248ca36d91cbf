/**
 * `rxkv/operators`: RxJS operators over change streams, one a file. They work on any
 * `Observable<Change>`: a table's, a database's, or a remote replica's.
 */
export { byKey } from './by-key.js';
export { byPrefix } from './by-prefix.js';
export { where } from './where.js';
export { ofOp } from './of-op.js';
export { pathChanged } from './path-changed.js';
export { squash } from './squash.js';
export { toMap } from './to-map.js';
export type { Change, ChangeOp } from '../model/change.js';
