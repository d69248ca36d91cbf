import { filter, firstValueFrom } from 'rxjs';
import { connect, ErrorCode, indexedDbStore, RxkvError, type ConnectOptions, type RemoteDatabase } from 'rxkv/client';
import { eventually, fixture, freshTable, serverSide } from './fixture.js';

const OFFLINE = fixture.offlineSyncUrl;

describe('rxkv/client persisted replica in the browser (IndexedDB), against a real rxkv server', () => {
  const opened: RemoteDatabase[] = [];

  afterEach(async () => {
    for (const remote of opened.splice(0)) await remote.close();
  });

  function client(url: string, options: ConnectOptions): RemoteDatabase {
    const remote = connect(url, { optimistic: true, reconnect: { minDelay: 5, maxDelay: 50 }, ...options });
    opened.push(remote);
    return remote;
  }

  async function close(remote: RemoteDatabase): Promise<void> {
    opened.splice(opened.indexOf(remote), 1);
    await remote.close();
  }

  it('should reopen offline with the last state and the pending writes, then apply each pending write once when the server is back', async () => {
    const table = freshTable();
    const name = `spec-${table}`;
    await serverSide('put', { table, key: 'a', value: { n: 1 } });
    const first = client(fixture.syncUrl, { persist: indexedDbStore(name) });
    first.table(table).state$.subscribe();
    await eventually(() => first.table(table).get('a') !== undefined, 'the snapshot');
    await close(first);

    const offline = client(OFFLINE, { persist: indexedDbStore(name) });
    const shown = await firstValueFrom(offline.table(table).state$);
    expect(offline.status.state).withContext('the server is out of reach').toBe('connecting');
    expect(Object.fromEntries(shown.entries())).toEqual({ a: { n: 1 } });
    offline.table(table).state$.subscribe();
    const merged = offline.table(table).merge('a', { n: 2 }).then(() => 'resolved', (error: RxkvError) => error.code);
    const put = offline.table(table).put('b', { n: 3 });
    put.catch(() => undefined);
    expect(offline.table(table).get('a')).withContext('in the same tick').toEqual({ n: 2 });
    await close(offline); // what it holds is stored before close resolves
    expect(await merged).toBe(ErrorCode.CLIENT_CLOSED);

    // A reload, still offline: the stored state with the pending writes on top, at once.
    const reloaded = client(OFFLINE, { persist: indexedDbStore(name) });
    const again = await firstValueFrom(reloaded.table(table).state$);
    expect(Object.fromEntries(again.entries())).toEqual({ a: { n: 2 }, b: { n: 3 } });
    expect(again.hasPendingWrites).toBeTrue();
    expect(again.isPending('a')).toBeTrue();
    await close(reloaded);

    const online = client(fixture.syncUrl, { persist: indexedDbStore(name) });
    online.table(table).state$.subscribe();
    await eventually(() => online.status.state === 'open', 'the connection');
    await firstValueFrom(online.pending$.pipe(filter((count) => count === 0)));
    const a = await serverSide('get', { table, key: 'a' });
    const b = await serverSide('get', { table, key: 'b' });
    expect([a.value, b.value]).toEqual([{ n: 2 }, { n: 3 }]);
    expect([a.changes, b.changes]).withContext('each applied once (a: its put, then the merge)').toEqual([2, 1]);
    await eventually(() => online.table(table).get('b') !== undefined, 'the replica to show the put as confirmed');
    expect(online.table(table).snapshot().hasPendingWrites).toBeFalse();
  });

  it('should give two clients of one store a slot each, and send the writes of a slot left behind', async () => {
    const table = freshTable();
    const name = `spec-${table}`;
    await serverSide('put', { table, key: 'a', value: { n: 1 } });
    // Two tabs at once, offline: neither waits for the other's store.
    const left = client(OFFLINE, { persist: indexedDbStore(name) });
    const right = client(OFFLINE, { persist: indexedDbStore(name) });
    const writes = [left.table(table).put('from-left', { n: 1 }), right.table(table).put('from-right', { n: 1 })];
    for (const write of writes) write.catch(() => undefined);
    // Shown once each client read its store (a write made before is held until then).
    await eventually(() => left.table(table).get('from-left') !== undefined && right.table(table).get('from-right') !== undefined, 'the writes shown');
    await Promise.all([close(left), close(right)]);
    expect((await Promise.allSettled(writes)).map((outcome) => (outcome.status === 'rejected' ? (outcome.reason as RxkvError).code : 'resolved'))).toEqual([
      ErrorCode.CLIENT_CLOSED,
      ErrorCode.CLIENT_CLOSED,
    ]);

    // One tab comes back: its own slot's write is sent, and the other slot's too (no tab holds it).
    const back = client(fixture.syncUrl, { persist: indexedDbStore(name) });
    back.table(table).state$.subscribe();
    await eventually(() => back.table(table).get('from-left') !== undefined && back.table(table).get('from-right') !== undefined, 'both writes on the server', 10_000);
    const counts = await Promise.all(['from-left', 'from-right'].map((key) => serverSide('get', { table, key })));
    expect(counts.map((record) => record.changes)).withContext('each applied once').toEqual([1, 1]);
  });

  it('should refuse a write the store has no room for with QUOTA_EXCEEDED (a storage bucket with a small quota), rolled back and never sent', async () => {
    const buckets = (navigator as unknown as { storageBuckets?: { open(name: string, options: object): Promise<{ indexedDB: IDBFactory }>; delete(name: string): Promise<void> } }).storageBuckets;
    if (buckets === undefined) {
      pending('this browser has no Storage Buckets API to give IndexedDB a small quota');
      return;
    }
    const table = freshTable();
    await serverSide('put', { table, key: 'a', value: { n: 1 } });
    const bucket = await buckets.open(`spec-${table}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-'), { quota: 64 * 1024 });
    const remote = client(fixture.syncUrl, { persist: indexedDbStore(`spec-${table}`, { indexedDB: bucket.indexedDB }) });
    remote.table(table).state$.subscribe();
    await eventually(() => remote.table(table).get('a') !== undefined, 'the snapshot');
    const big = remote.table(table).put('big', { text: 'x'.repeat(2 * 1024 * 1024) });
    expect(remote.table(table).get('big')).withContext('shown at once').toBeDefined();
    expect(await big.then(() => 'resolved', (error: RxkvError) => error.code)).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(remote.table(table).get('big')).withContext('rolled back').toBeUndefined();
    expect((await serverSide('get', { table, key: 'big' })).value).withContext('never sent').toBeNull();
  });
});
