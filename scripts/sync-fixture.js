// What the browser specs run against: a real rxkv database (in a temp directory) served by
// rxkv/server on a loopback port, with a small HTTP control API the specs use to act as "the
// server side" (write, read, cut connections), and the sync example (examples/sync).
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'rxkv';
import { serve } from 'rxkv/server';
import { start as startExample } from '../examples/sync/server.js';

export async function startSyncFixture() {
  const dir = mkdtempSync(join(tmpdir(), 'rxkv-karma-'));
  const db = await open(join(dir, 'db'));
  const sockets = new Set();
  // How many changes each record had: a write applied twice would count twice.
  const counts = new Map();
  db.changes().subscribe(({ table, key }) => counts.set(`${table}/${key}`, (counts.get(`${table}/${key}`) ?? 0) + 1));
  const http = createServer((request, response) => control(db, sockets, counts, request, response));
  http.on('upgrade', (_request, socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  // Everyone may do anything here, the inspector's table list and server figures included.
  const server = await serve(db, { server: http, path: '/sync', inspector: true, authorize: () => true });
  // The same database behind tokens, for the inspector's refusals: "reader" may read, "admin" may also write.
  const principals = { reader: { admin: false }, admin: { admin: true } };
  const secure = await serve(db, {
    server: http,
    path: '/secure',
    inspector: true,
    inspectorPath: '/secure-inspector',
    authenticate: ({ token }) => principals[token] ?? null,
    authorize: (principal, access) => access.action !== 'write' || principal.admin,
  });
  // The same database, its messages compressed (Chromium always offers permessage-deflate).
  const compressed = await serve(db, { server: http, path: '/compressed', perMessageDeflate: true, authorize: () => true });
  const example = await startExample({ port: 0, dir: join(dir, 'example') });
  // A server that is down, as a client sees it: every connection is cut at once.
  const down = createNetServer((socket) => socket.destroy());
  await new Promise((resolve) => down.listen(0, '127.0.0.1', resolve));
  const base = `127.0.0.1:${http.address().port}`;
  return {
    args: {
      syncUrl: `ws://${base}/sync`,
      secureSyncUrl: `ws://${base}/secure`,
      compressedSyncUrl: `ws://${base}/compressed`,
      controlUrl: `http://${base}/control`,
      exampleUrl: example.url,
      exampleSyncUrl: example.syncUrl,
      offlineSyncUrl: `ws://127.0.0.1:${down.address().port}/sync`,
      inspectorUrl: `http://${base}/inspector/`,
      secureInspectorUrl: `http://${base}/secure-inspector/`,
    },
    async close() {
      await new Promise((resolve) => down.close(resolve));
      await example.close();
      await compressed.close();
      await secure.close();
      await server.close();
      await new Promise((resolve) => {
        http.close(resolve);
        http.closeAllConnections();
      });
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POST /control/{merge,put,delete,fill,get,drop} with a JSON body; answers JSON, to any origin. `get` tells the record's count of changes too. */
async function control(db, sockets, counts, request, response) {
  const headers = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type', 'content-type': 'application/json' };
  if (request.method === 'OPTIONS') return response.writeHead(204, headers).end();
  try {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString());
    const action = new URL(request.url, 'http://localhost').pathname.replace('/control/', '');
    let result;
    if (action === 'merge') result = { seq: (await db.table(body.table).merge(body.key, body.value), db.seq) };
    else if (action === 'put') result = { seq: (await db.table(body.table).put(body.key, body.value), db.seq) };
    else if (action === 'delete') result = { seq: (await db.table(body.table).delete(body.key), db.seq) };
    else if (action === 'fill') {
      await db.transaction((tx) => {
        for (let i = 0; i < body.count; i++) tx.table(body.table).put(`k${String(i).padStart(6, '0')}`, { i, text: 'x'.repeat(body.bytes) });
      });
      result = { seq: db.seq };
    } else if (action === 'get') result = { value: db.table(body.table).get(body.key) ?? null, changes: counts.get(`${body.table}/${body.key}`) ?? 0 };
    else if (action === 'drop') {
      result = { dropped: sockets.size };
      for (const socket of sockets) socket.destroy();
    } else return response.writeHead(404, headers).end('{}');
    response.writeHead(200, headers).end(JSON.stringify(result));
  } catch (error) {
    response.writeHead(500, headers).end(JSON.stringify({ error: String(error) }));
  }
}
