import { ErrorCode, fail } from '../errors.js';
import { RemoteDatabase, type ConnectOptions } from './remote-database.js';
import type { WebSocketConstructor } from './transport.js';

/** Makes `connect` for a WebSocket implementation: the browser's global one, or `ws` in Node. */
export function connector(WebSocket: WebSocketConstructor): (url: string, options?: ConnectOptions) => RemoteDatabase {
  return (url, options = {}) => {
    if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) fail(ErrorCode.INVALID_ARGUMENT, `connect(url): expected a ws:// or wss:// URL, got ${JSON.stringify(url)}.`);
    if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'connect(url, options): options must be an object.');
    const { token, reconnect, heartbeat, writeTimeout, optimistic, maxPendingWrites, persist, maxStoredBytes } = options;
    if (persist !== undefined && !(typeof persist === 'object' && persist !== null && ['load', 'save', 'close'].every((method) => typeof (persist as unknown as Record<string, unknown>)[method] === 'function'))) {
      fail(ErrorCode.INVALID_ARGUMENT, 'connect: persist must be a store (indexedDbStore, fileStore, memoryStore, or an object with load, save and close).');
    }
    if (maxStoredBytes !== undefined && !(Number.isSafeInteger(maxStoredBytes) && maxStoredBytes > 0)) fail(ErrorCode.INVALID_ARGUMENT, 'connect: maxStoredBytes must be a positive integer.');
    if (optimistic !== undefined && typeof optimistic !== 'boolean') fail(ErrorCode.INVALID_ARGUMENT, 'connect: optimistic must be a boolean.');
    if (maxPendingWrites !== undefined && !(Number.isSafeInteger(maxPendingWrites) && maxPendingWrites > 0)) fail(ErrorCode.INVALID_ARGUMENT, 'connect: maxPendingWrites must be a positive integer.');
    if (heartbeat !== undefined && !(Number.isFinite(heartbeat) && heartbeat >= 0)) fail(ErrorCode.INVALID_ARGUMENT, 'connect: heartbeat must be a number of ms >= 0 (0: no liveness check).');
    if (writeTimeout !== undefined && !(Number.isFinite(writeTimeout) && writeTimeout >= 0)) fail(ErrorCode.INVALID_ARGUMENT, 'connect: writeTimeout must be a number of ms >= 0 (0: wait forever).');
    if (token !== undefined && typeof token !== 'string' && typeof token !== 'function') fail(ErrorCode.INVALID_ARGUMENT, 'connect: token must be a string or a function returning one.');
    if (reconnect !== undefined) {
      for (const name of ['minDelay', 'maxDelay'] as const) {
        const value = reconnect[name];
        if (value !== undefined && !(Number.isFinite(value) && value >= 0)) fail(ErrorCode.INVALID_ARGUMENT, `connect: reconnect.${name} must be a number of ms >= 0.`);
      }
    }
    return new RemoteDatabase(url, options, WebSocket);
  };
}
