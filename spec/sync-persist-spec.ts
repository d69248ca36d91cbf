import { firstValueFrom, filter } from 'rxjs';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, open, type Database } from 'rxkv';
import { serve, type SyncServer } from 'rxkv/server';
import { fileStore, memoryStore, type Change, type RemoteDatabase, type ReplicaSnapshot, type ReplicaStore } from 'rxkv/client';
import { rejectedCode, thrownCode } from './helpers/db.js';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually, until } from './helpers/sync.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const WRITER = fileURLToPath(new URL('./helpers/persist-writer-child.js', import.meta.url));

/** The server's changes of a table, counted by key: a write applied twice would count twice. */
function countChanges(db: Database, table: string): Map<string, number> {
  const counts = new Map<string, number>();
  db.table(table)
    .changes()
    .subscribe((change) => counts.set(change.key, (counts.get(change.key) ?? 0) + 1));
  return counts;
}

describe('sync: a persisted replica', () => {
  let db: Database;
  let server: SyncServer;
  let proxy: TcpProxy;
  let url: string;
  const remotes: RemoteDatabase[] = [];

  beforeEach(async () => {
    db = await open(tempDir());
    await db.transaction((tx) => {
      tx.table('t').put('a', { n: 1 });
      tx.table('t').put('b', { n: 1 });
    });
    server = await serve(db);
    proxy = await TcpProxy.start(server.port);
    url = `ws://127.0.0.1:${proxy.port}`;
  });

  afterEach(async () => {
    for (const remote of remotes.splice(0)) await remote.close();
    await proxy.close();
    await server.close();
    await db.close();
    removeTempDirs();
  });

  function persisted(store: ReplicaStore, options: Parameters<typeof client>[1] = {}): RemoteDatabase {
    const remote = client(url, { persist: store, optimistic: true, ...options });
    remotes.push(remote);
    return remote;
  }

  async function close(remote: RemoteDatabase): Promise<void> {
    remotes.splice(remotes.indexOf(remote), 1);
    await remote.close();
  }

  function offline(on: boolean): void {
    proxy.block(on);
    if (on) proxy.drop();
  }

  /** The first snapshot of table t a stream gives. */
  const firstState = (remote: RemoteDatabase): Promise<ReplicaSnapshot> => firstValueFrom(remote.table('t').state$);

  for (const [name, makeStore] of [
    ['memoryStore', () => memoryStore()],
    ['fileStore', () => fileStore(join(tempDir(), 'replica.jsonl'))],
  ] as const) {
    it(`(${name}) should reopen offline with the stored records and pending writes, then send each pending write once`, async () => {
      const store = makeStore();
      const counts = countChanges(db, 't');
      const first = persisted(store);
      first.table('t').state$.subscribe();
      await eventually(() => first.table('t').get('b')?.['n' as never] === 1, 'the snapshot');
      await db.table('t').merge('b', { n: 2 }); // a change after the snapshot: the stored position moves past it
      await eventually(() => (first.table('t').get('b') as { n: number }).n === 2, 'the change');

      offline(true);
      await until(first, 'connecting');
      const merged = first.table('t').merge('a', { n: 5 });
      const put = first.table('t').put('c', { n: 7 }, { optimistic: false });
      merged.catch(() => undefined);
      put.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the store saves them
      await close(first);
      expect(await rejectedCode(merged)).toBe(ErrorCode.CLIENT_CLOSED);

      const second = persisted(store);
      const state = await firstState(second);
      expect(second.status.state).withContext('still offline').toBe('connecting');
      expect(Object.fromEntries(state.entries())).toEqual({ a: { n: 5 }, b: { n: 2 } });
      expect(state.hasPendingWrites).toBeTrue();
      expect(await firstValueFrom(second.pending$)).toBe(1);

      const changes: Change[] = [];
      second.table('t').changes().subscribe((change) => changes.push(change));
      offline(false);
      await eventually(() => db.table('t').get('c') !== undefined && db.table('t').get('a')?.['n' as never] === 5, 'the pending writes on the server');
      await firstValueFrom(second.pending$.pipe(filter((count) => count === 0)));
      await eventually(() => second.table('t').get('c') !== undefined, 'the put in the replica');
      expect(Object.fromEntries(second.table('t').snapshot().entries())).toEqual(Object.fromEntries(db.table('t').entries()));
      expect(changes.map(({ key, op }) => `${key} ${op}`)).withContext('the confirmed merge changes nothing shown').toEqual(['c new']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(counts.get('a')).withContext('applied once').toBe(1);
      expect(counts.get('c')).toBe(1);
      expect(counts.get('b')).toBe(1);
      await close(second);

      // The writes left the store once confirmed: a third client has nothing to send or show pending.
      const third = persisted(store);
      const again = await firstState(third);
      expect(again.hasPendingWrites).toBeFalse();
      expect(Object.fromEntries(again.entries())).toEqual(Object.fromEntries(db.table('t').entries()));
    });
  }

  it('should apply a write once when its answer was lost and a new client on the store sends it again', async () => {
    const store = memoryStore();
    const counts = countChanges(db, 't');
    const first = persisted(store);
    first.table('t').state$.subscribe();
    await eventually(() => first.table('t').get('a') !== undefined, 'the snapshot');
    proxy.cutBefore((text) => text.includes('"type":"committed"'));
    proxy.block(true);
    const written = first.table('t').merge('a', { n: 9 });
    written.catch(() => undefined);
    await eventually(() => db.table('t').get('a')?.['n' as never] === 9, 'the write on the server');
    const version = db.table('t').meta('a')!.version;
    await until(first, 'connecting');
    await close(first);

    proxy.block(false);
    const second = persisted(store);
    second.table('t').state$.subscribe();
    expect((await firstState(second)).get('a')).toEqual({ n: 9 });
    await firstValueFrom(second.pending$.pipe(filter((count) => count === 0)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(counts.get('a')).withContext('sent twice, applied once').toBe(1);
    expect(db.table('t').meta('a')!.version).withContext('not written again').toBe(version);
    expect(second.table('t').get('a')).toEqual({ n: 9 });
  });

  it('should drop stored records and positions of another history, and take fresh snapshots', async () => {
    const store = memoryStore();
    const first = persisted(store);
    first.table('t').state$.subscribe();
    await eventually(() => first.table('t').get('b') !== undefined, 'the snapshot');
    await close(first);

    // Another database behind the same address: its history is another one.
    const port = server.port;
    await server.close();
    await db.close();
    db = await open(tempDir());
    await db.table('t').put('z', { n: 1 });
    server = await serve(db, { port });

    const second = persisted(store);
    const states: ReplicaSnapshot[] = [];
    second.table('t').state$.subscribe((state) => states.push(state));
    await eventually(() => second.table('t').get('z') !== undefined, 'the new snapshot');
    expect(Object.fromEntries(second.table('t').snapshot().entries())).toEqual({ z: { n: 1 } });
    expect(Object.fromEntries(states[0]!.entries())).withContext('shown from the store first').toEqual({ a: { n: 1 }, b: { n: 1 } });
    await close(second);
    const third = persisted(store);
    offline(true);
    expect(Object.fromEntries((await firstState(third)).entries())).withContext('the store now holds the new history').toEqual({ z: { n: 1 } });
  });

  it('should keep an offline write through a kill -9 of the process that made it (fileStore)', async () => {
    const path = join(tempDir(), 'replica.jsonl');
    offline(true);
    const child = spawn(process.execPath, [WRITER, url, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
    // The child reports once its write is in the store (the file has it): then it is killed.
    await eventually(() => output.includes('stored'), 'the child to store its write', 10_000);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(db.table('t').get('k')).toBeUndefined();

    offline(false);
    const counts = countChanges(db, 't');
    const remote = persisted(fileStore(path));
    remote.table('t').state$.subscribe();
    await eventually(() => db.table('t').get('k') !== undefined, 'the write of the killed process on the server');
    expect(db.table('t').get('k')).toEqual({ from: 'child' });
    await eventually(() => remote.table('t').get('k') !== undefined, 'the write in the new replica');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(counts.get('k')).toBe(1);
  }, 20_000);

  it('should refuse a write that does not fit maxStoredBytes, and tell when the records outgrow it', async () => {
    const store = memoryStore();
    const remote = persisted(store, { maxStoredBytes: 400 });
    const errors: string[] = [];
    remote.errors$.subscribe((error) => errors.push(error.code));
    remote.table('t').state$.subscribe();
    await eventually(() => remote.table('t').get('b') !== undefined, 'the snapshot');
    const big = remote.table('t').put('big', { text: 'x'.repeat(500) });
    expect(await rejectedCode(big)).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(remote.table('t').get('big')).withContext('not shown').toBeUndefined();

    await db.table('t').put('c', { text: 'y'.repeat(450) });
    await eventually(() => errors.length > 0, 'the records to outgrow the store');
    expect(errors).toEqual([ErrorCode.LIMIT_EXCEEDED]);
    // Writes are still stored: one made offline survives the client.
    offline(true);
    await until(remote, 'connecting');
    void remote.table('t').merge('a', { n: 3 }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await close(remote);
    const next = persisted(store);
    offline(false);
    await eventually(() => db.table('t').get('a')?.['n' as never] === 3, 'the stored write on the server');
    await firstValueFrom(next.pending$.pipe(filter((count) => count === 0)));
  });

  it('should reject a write its store cannot save with a typed error, rolled back and never sent', async () => {
    const inner = memoryStore();
    let full = false;
    const store: ReplicaStore = {
      load: () => inner.load(),
      save: (batch) => (full && batch.writes.length > 0 ? Promise.reject(Object.assign(new Error('quota'), { name: 'QuotaExceededError' })) : inner.save(batch)),
      close: () => inner.close(),
    };
    const remote = persisted(store);
    const changes: Change[] = [];
    remote.table('t').changes().subscribe((change) => changes.push(change));
    await eventually(() => remote.table('t').get('a') !== undefined, 'the snapshot');
    full = true;
    const written = remote.table('t').merge('a', { n: 4 });
    expect(remote.table('t').get('a')).withContext('shown at once').toEqual({ n: 4 });
    expect(await rejectedCode(written)).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(remote.table('t').get('a')).withContext('rolled back').toEqual({ n: 1 });
    expect(changes.map(({ value, pending }) => [value, pending === true])).toEqual([
      [{ n: 4 }, true],
      [{ n: 1 }, false],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(db.table('t').get('a')).withContext('never sent').toEqual({ n: 1 });
  });

  it('should retry a failing store with backoff, and give the records up to keep the writes when it is out of space', async () => {
    const inner = memoryStore();
    let failure: Error | null = Object.assign(new Error('the disk is unwell'), { code: 'EIO' });
    const attempts: { records: number; reset: boolean }[] = [];
    const store: ReplicaStore = {
      load: () => inner.load(),
      save: (batch) => {
        if (batch.replica !== undefined) attempts.push({ records: batch.replica.records.length, reset: batch.replica.reset });
        return failure !== null && batch.replica !== undefined && batch.replica.records.length > 0 ? Promise.reject(failure) : inner.save(batch);
      },
      close: () => inner.close(),
    };
    const remote = persisted(store);
    const errors: string[] = [];
    remote.errors$.subscribe((error) => errors.push(error.code));
    remote.table('t').state$.subscribe();
    await eventually(() => remote.table('t').get('b') !== undefined, 'the snapshot');
    for (let i = 0; i < 50; i++) await db.table('t').merge('a', { n: i });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(errors.length).withContext('a store failing is not retried in a loop').toBeLessThanOrEqual(3);
    expect(errors.every((code) => code === ErrorCode.STORE_FAILED)).toBeTrue();

    failure = Object.assign(new Error('no room'), { name: 'QuotaExceededError' });
    await eventually(() => errors.includes(ErrorCode.QUOTA_EXCEEDED), 'the quota error', 3000);
    await eventually(() => attempts.at(-1)?.reset === true && attempts.at(-1)?.records === 0, 'the records dropped from the store', 3000);
    // Writes are still stored: one made offline survives the client.
    offline(true);
    await until(remote, 'connecting');
    void remote.table('t').merge('b', { n: 7 }).catch(() => undefined);
    await close(remote);
    const next = persisted(store);
    offline(false);
    await eventually(() => db.table('t').get('b')?.['n' as never] === 7, 'the stored write on the server', 3000);
    await firstValueFrom(next.pending$.pipe(filter((count) => count === 0)));
  });

  it('should refuse a second client on a store another one holds, and a persist that is not a store', async () => {
    const store = memoryStore();
    persisted(store);
    const second = persisted(store);
    await until(second, 'refused');
    expect(second.status.reason).toContain('held by another client');
    expect(await rejectedCode(second.table('t').merge('a', { n: 2 }))).toBe(ErrorCode.DATABASE_LOCKED);
    expect(thrownCode(() => client(url, { persist: {} as ReplicaStore }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(thrownCode(() => client(url, { persist: store, maxStoredBytes: 0 }))).toBe(ErrorCode.INVALID_ARGUMENT);

    const path = join(tempDir(), 'replica.jsonl');
    persisted(fileStore(path));
    const onFile = persisted(fileStore(path));
    await until(onFile, 'refused');
    expect(onFile.status.reason).toContain('held by another client');
  });

  it('should drop a line a crash tore off the end of a fileStore, and refuse a damaged one', async () => {
    const path = join(tempDir(), 'replica.jsonl');
    const first = persisted(fileStore(path));
    first.table('t').state$.subscribe();
    await eventually(() => first.table('t').get('b') !== undefined, 'the snapshot');
    await close(first);
    appendFileSync(path, '{"batch":{"client":"x","nextMut');
    offline(true);
    const second = persisted(fileStore(path));
    expect(Object.fromEntries((await firstState(second)).entries())).toEqual({ a: { n: 1 }, b: { n: 1 } });
    await close(second);
    expect(readFileSync(path, 'utf8').endsWith('\n')).withContext('the torn line is gone').toBeTrue();

    writeFileSync(path, 'not json\n{}\n');
    const third = persisted(fileStore(path));
    await until(third, 'refused');
    expect(await rejectedCode(third.table('t').merge('a', {}))).toBe(ErrorCode.STORE_FAILED);
    expect(existsSync(path + '.lock')).withContext('a store that failed to load is let go').toBeFalse();
  });
});
