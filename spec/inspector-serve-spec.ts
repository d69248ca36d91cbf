import { createServer, type Server } from 'node:http';
import { serve } from 'rxkv/server';
import { connect } from 'rxkv/client';
import { open, type Database } from 'rxkv';
import { tempDir, removeTempDirs } from './helpers/temp.js';

describe('serve(db, { inspector }): the inspector page on the sync server\'s HTTP server', () => {
  let db: Database;
  const closers: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    db = await open(tempDir());
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await db.close();
    removeTempDirs();
  });

  async function started(options: Parameters<typeof serve>[1]): Promise<string> {
    const server = await serve(db, options);
    closers.push(() => server.close());
    return `http://127.0.0.1:${server.port}`;
  }

  it('should serve the page, its script and its style at /inspector/, bundled (nothing from elsewhere), with the sync path written in', async () => {
    const base = await started({ inspector: true });
    const redirect = await fetch(`${base}/inspector`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/inspector/');
    const page = await fetch(`${base}/inspector/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('<meta name="rxkv-sync" content="/inspector" />'); // any path upgrades: the page's own
    const scripts = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(scripts).toEqual(['app.css', 'app.js']);
    const script = await fetch(`${base}/inspector/app.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const code = await script.text();
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).not.toMatch(/(?:import|from)\s*\(?\s*["'](?:https?:)?\/\//); // one bundle: nothing imported from a CDN
    expect((await fetch(`${base}/inspector/app.css`)).status).toBe(200);
    expect((await fetch(`${base}/inspector/secret.txt`)).status).toBe(404);
    expect((await fetch(`${base}/inspector/../package.json`)).status).not.toBe(200);
    expect((await fetch(`${base}/inspector/`, { method: 'POST' })).status).toBe(405);
    // The sync endpoint is still there, on any other path.
    const other = await fetch(`${base}/elsewhere`);
    expect(other.status).toBe(426);
    expect(await other.text()).toContain('/inspector/');
  });

  it('should serve nothing but the endpoint without inspector: true', async () => {
    const base = await started({});
    expect((await fetch(`${base}/inspector/`)).status).toBe(426);
  });

  it('should write the sync path into the page when there is one, at inspectorPath', async () => {
    const base = await started({ inspector: true, inspectorPath: '/admin/db', path: '/sync' });
    expect(await (await fetch(`${base}/admin/db/`)).text()).toContain('<meta name="rxkv-sync" content="/sync" />');
    expect((await fetch(`${base}/inspector/`)).status).toBe(426);
  });

  it('should go in front of the request listeners of a server of the user\'s, and give it back on close', async () => {
    const http: Server = createServer((_request, response) => response.end('theirs'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => http.close(resolve)));
    const base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    const server = await serve(db, { server: http, path: '/sync', inspector: true });
    expect(await (await fetch(`${base}/anything`)).text()).toBe('theirs');
    expect(await (await fetch(`${base}/inspector/`)).text()).toContain('rxkv inspector');
    const remote = connect(base.replace('http', 'ws') + '/sync');
    await remote.table('t').page({});
    await remote.close();
    await server.close();
    expect(await (await fetch(`${base}/inspector/`)).text()).toBe('theirs');
    expect(http.listeners('request').length).toBe(1);
  });

  it('should refuse a bad inspectorPath or inspector with INVALID_ARGUMENT', async () => {
    for (const options of [{ inspector: true, inspectorPath: 'inspector' }, { inspector: true, inspectorPath: '/inspector/' }, { inspector: true, inspectorPath: '/' }, { inspector: 'yes' as never }]) {
      await expectAsync(serve(db, options)).toBeRejectedWith(jasmine.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
