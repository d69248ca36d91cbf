import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { ErrorCode, RxkvError } from '../errors.js';

/** Where the build puts the page (scripts/build-inspector.js): dist/inspector, next to dist/server. */
const PAGE_DIR = new URL('../inspector/', import.meta.url);
const FILES = { 'index.html': 'text/html; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' } as const;

/** The page may load only its own files and talk only to its own server's WebSocket. */
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The inspector's page, served at `path` (its files under `path/`): the bundle the build made, with
 * the sync endpoint it connects to written into the page.
 */
export class InspectorPage {
  private readonly files = new Map<string, { readonly body: Buffer; readonly type: string }>();

  constructor(
    readonly path: string,
    syncPath: string,
  ) {
    for (const [name, type] of Object.entries(FILES)) {
      let body: Buffer;
      try {
        body = readFileSync(new URL(name, PAGE_DIR));
      } catch (error) {
        throw new RxkvError(ErrorCode.INTERNAL, `The inspector's page is missing (${name} in dist/inspector): build the package with npm run build.`, { cause: error });
      }
      if (name === 'index.html') body = Buffer.from(body.toString().replace('%SYNC_PATH%', escapeAttribute(syncPath)));
      this.files.set(name, { body, type });
    }
  }

  /** Whether a request is the page's (the path, or a file under it). */
  owns(request: IncomingMessage): boolean {
    const pathname = pathOf(request);
    return pathname === this.path || pathname.startsWith(this.path + '/');
  }

  serve(request: IncomingMessage, response: ServerResponse): void {
    const pathname = pathOf(request);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    // The page's files are relative to its directory: /inspector becomes /inspector/.
    if (pathname === this.path) {
      response.writeHead(308, { location: this.path + '/' }).end();
      return;
    }
    const file = this.files.get(pathname === this.path + '/' ? 'index.html' : pathname.slice(this.path.length + 1));
    if (file === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      return;
    }
    response.writeHead(200, { ...HEADERS, 'content-type': file.type, 'content-length': file.body.length });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  /**
   * Serves the page on a server that has request listeners of its own: they are moved behind one
   * that answers the page's requests and hands them every other request. Returns the undo.
   */
  mount(http: HttpServer | HttpsServer): () => void {
    const theirs = http.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
    const ours = (request: IncomingMessage, response: ServerResponse): void => {
      if (this.owns(request)) this.serve(request, response);
      else for (const listener of theirs) listener.call(http, request, response);
    };
    http.removeAllListeners('request');
    http.on('request', ours);
    return () => {
      http.off('request', ours);
      for (const listener of theirs) http.on('request', listener);
    };
  }
}

function pathOf(request: IncomingMessage): string {
  return new URL(request.url ?? '/', 'http://localhost').pathname;
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
