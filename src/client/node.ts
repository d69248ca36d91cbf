/** `rxkv/client` in Node: the browser client (see `browser.ts`) over `ws`. */
import WebSocket from 'ws';
import { connector } from './connect.js';
import type { WebSocketConstructor } from './transport.js';

export const connect = connector(WebSocket as unknown as WebSocketConstructor);
export * from './exports.js';
export { fileStore } from './file-store.js';
