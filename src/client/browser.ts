/**
 * `rxkv/client` in the browser: a live replica of a database served by `rxkv/server`, over the
 * browser's WebSocket. (Node gets `node.ts`, the same client over `ws`, through the `node` export condition.)
 *
 * @example
 * import { connect } from 'rxkv/client';
 * const remote = connect('wss://example.com/sync', { token });
 * remote.table('todos').state$.subscribe((todos) => render([...todos.values()]));
 * await remote.table('todos').merge('a', { done: true });
 */
import { connector } from './connect.js';
import type { WebSocketConstructor } from './transport.js';

export const connect = connector(globalThis.WebSocket as unknown as WebSocketConstructor);
export * from './exports.js';
