/**
 * `rxkv/server`: serves a database over WebSocket to `rxkv/client` replicas.
 *
 * @example
 * import { open } from 'rxkv';
 * import { serve } from 'rxkv/server';
 * const db = await open('./data');
 * const server = await serve(db, { port: 8080, authenticate: ({ token }) => (token === secret ? { user: 'admin' } : null) });
 */
export { serve, type SyncServer } from './server.js';
export type { Access, ServeOptions } from './options.js';
export { CloseCode, PROTOCOL_VERSION, type ServerStats } from '../sync/protocol.js';
export { RxkvError, ErrorCode } from '../errors.js';
