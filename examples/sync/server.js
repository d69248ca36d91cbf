// rxkv sync example: `npm run example:sync` serves a shared todo list. Open the page in two
// windows: an edit in either (or on the server) shows at once in both.
//
// One node:http server does it all: GET / is the page, GET /app.js its script (bundled with
// esbuild at start, rxkv/client included), and WebSocket upgrades on /sync go to rxkv/server.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { open, uuid } from 'rxkv';
import { serve } from 'rxkv/server';

const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * Starts the example: resolves to `{ url, syncUrl, db, close() }` once it listens.
 * `db` is the server's database: what is written to its `todos` table shows on every page.
 */
export async function start({ port = 0, host = '127.0.0.1', dir = process.env.RXKV_DIR ?? join(tmpdir(), 'rxkv-sync-example') } = {}) {
  const [html, script] = await Promise.all([readFile(join(PUBLIC, 'index.html')), bundle()]);
  const db = await open(dir);
  let http;
  let sync;
  try {
    await seed(db);
    http = createServer((request, response) => {
      const { pathname } = new URL(request.url ?? '/', 'http://localhost');
      const body = pathname === '/' || pathname === '/index.html' ? html : pathname === '/app.js' ? script : undefined;
      if (body === undefined) return response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      if (request.method !== 'GET' && request.method !== 'HEAD') return response.writeHead(405, { allow: 'GET, HEAD' }).end();
      const type = body === html ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8';
      response.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : body);
    });
    await new Promise((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    // Anyone who can reach it may read and write: a real app passes `authenticate`, `authorize`
    // and `origins` (the browser origins allowed to connect) here.
    sync = await serve(db, { server: http, path: '/sync' });
  } catch (error) {
    http?.close();
    await db.close();
    throw error;
  }

  const { port: actual } = http.address();
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing;
  return {
    url: `http://${shown}:${actual}/`,
    syncUrl: `ws://${shown}:${actual}/sync`,
    db,
    /** Disconnects the pages, stops listening and closes the database. */
    close: () =>
      (closing ??= (async () => {
        await sync.close();
        await new Promise((resolve) => {
          http.close(resolve);
          http.closeAllConnections();
        });
        await db.close();
      })()),
  };
}

/** The page's script and what it imports, as one file for the browser: `rxkv/client` resolves to its browser build. */
async function bundle() {
  const { outputFiles } = await build({
    entryPoints: [join(PUBLIC, 'app.js')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return Buffer.from(outputFiles[0].contents);
}

/** A first run starts with a couple of todos (written in one transaction: both or none). */
async function seed(db) {
  if (db.table('todos').size > 0) return;
  await db.transaction((tx) => {
    const todos = tx.table('todos');
    todos.put(uuid(), { title: 'Open this page in a second window', done: true });
    todos.put(uuid(), { title: 'Tick this one: both windows update', done: false });
  });
}

// `node examples/sync/server.js`: serve on PORT (default 8080, or any free port if it is taken) until Ctrl-C.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { PORT } = process.env;
  const app = await start({ port: Number(PORT ?? 8080) }).catch((error) => {
    if (error.code !== 'EADDRINUSE' || PORT !== undefined) throw error;
    return start({ port: 0 });
  });
  console.log(`rxkv sync example: ${app.url}`);
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1); // a second Ctrl-C does not wait
    stopping = true;
    app.close().catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
