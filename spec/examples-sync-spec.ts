import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { filter, firstValueFrom, shareReplay, timeout, type Observable } from 'rxjs';
import type { Database } from 'rxkv';
import { connect, type RemoteDatabase, type ReplicaSnapshot } from 'rxkv/client';
import { removeTempDirs, tempDir } from './helpers/temp.js';

// Compiled specs run from build/spec: the example is two levels up from there.
const SERVER = new URL('../../examples/sync/server.js', import.meta.url);

interface Todo {
  title: string;
  done: boolean;
}

interface Example {
  url: string;
  syncUrl: string;
  db: Database;
  close(): Promise<void>;
}

async function start(dir: string): Promise<Example> {
  const { start } = (await import(SERVER.href)) as { start(options: { port: number; dir: string }): Promise<Example> };
  return start({ port: 0, dir });
}

type Todos = Observable<ReplicaSnapshot<Todo>>;

/** The first snapshot (the latest one, or one to come) that `test` accepts. */
function until(todos: Todos, test: (todos: ReplicaSnapshot<Todo>) => boolean): Promise<ReplicaSnapshot<Todo>> {
  return firstValueFrom(todos.pipe(filter(test), timeout(4000)));
}

describe('examples/sync', () => {
  let example: Example | undefined;
  const remotes: RemoteDatabase[] = [];

  afterEach(async () => {
    await Promise.all(remotes.splice(0).map((remote) => remote.close()));
    await example?.close();
    example = undefined;
    removeTempDirs();
  });

  /** A client's live view of the todos, as a page has it: one subscription, held until the client closes. */
  function client(): { remote: RemoteDatabase; todos: Todos } {
    const remote = connect(example!.syncUrl);
    remotes.push(remote);
    const todos = remote.table<Todo>('todos').state$.pipe(shareReplay({ bufferSize: 1, refCount: false }));
    todos.subscribe();
    return { remote, todos };
  }

  it('should serve the page, and its script bundled for the browser', async () => {
    example = await start(tempDir('rxkv-sync'));
    expect(example.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(example.syncUrl).toBe(example.url.replace(/^http/, 'ws') + 'sync');

    const page = await fetch(example.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('id="status"');
    expect(html).toContain('id="todos"');
    expect(html).toMatch(/<script type="module" src="app\.js">/);

    const script = await fetch(new URL('app.js', example.url));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    const js = await script.text();
    expect(js).toContain('new URLSearchParams(location.search).get("sync")'); // the page's own code
    expect(js).toContain('globalThis.WebSocket'); // rxkv/client's browser build, bundled in
    expect(js).not.toMatch(/\brequire\(\s*["']/); // no require("ws"), or of anything
    expect(js).not.toMatch(/\b(from|import\()\s*["']/); // nothing left to import: one self-contained file
    expect(js).not.toMatch(/["']node:/);

    expect((await fetch(new URL('nope', example.url))).status).toBe(404);
  });

  it('should seed the todos once, and sync them live both ways between pages and the server', async () => {
    const dir = tempDir('rxkv-sync');
    example = await start(dir);
    const alice = client();
    const bob = client();

    const seeded = await until(alice.todos, (todos) => todos.size > 0);
    expect(seeded.size).toBe(2);
    for (const todo of seeded.values()) expect(todo).toEqual({ title: jasmine.any(String), done: jasmine.any(Boolean) });
    expect(await firstValueFrom(alice.remote.status$)).toEqual({ state: 'open' });

    // The server edits: every client sees it.
    const [first] = seeded.keys();
    const done = !seeded.get(first!)!.done;
    await example.db.table('todos').merge(first!, { done });
    await Promise.all([alice, bob].map(({ todos }) => until(todos, (view) => view.get(first!)?.done === done)));

    // A client adds, toggles and deletes: the server and the other client see each step.
    await alice.remote.table('todos').merge('zz-new', { title: 'From Alice', done: false });
    expect(example.db.table('todos').get('zz-new')).toEqual({ title: 'From Alice', done: false });
    const added = await until(bob.todos, (todos) => todos.has('zz-new'));
    expect([...added.keys()].pop()).toBe('zz-new');
    await alice.remote.table('todos').merge('zz-new', { done: true });
    await until(bob.todos, (todos) => todos.get('zz-new')?.done === true);
    await alice.remote.table('todos').delete(first!);
    expect(example.db.table('todos').has(first!)).toBeFalse();
    await until(bob.todos, (todos) => !todos.has(first!) && todos.size === 2);

    // Restarted on the same directory, it keeps the todos and does not seed again.
    await Promise.all(remotes.splice(0).map((remote) => remote.close()));
    await example.close();
    example = await start(dir);
    expect([...example.db.table('todos').keys()]).toEqual([...added.keys()].filter((key) => key !== first));
  });

  it('should print its URL when run with node, and exit cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [fileURLToPath(SERVER)], {
      env: { ...process.env, PORT: '0', RXKV_DIR: tempDir('rxkv-sync') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    try {
      const lines = createInterface({ input: child.stdout! });
      const printed = once(lines, 'line') as Promise<[string]>;
      const [line] = await Promise.race([printed, exited.then(([code]) => Promise.reject(new Error(`exited (${code}) before printing its URL`)))]);
      expect(line).toMatch(/^rxkv sync example: http:\/\/127\.0\.0\.1:\d+\/$/);
      const url = line.slice(line.indexOf('http'));
      expect((await fetch(url)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toEqual([0, null]);
  });
});
