import { connect, type Change, type RemoteDatabase } from 'rxkv/client';
import { eventually, fixture, freshTable, serverSide } from './fixture.js';

describe('rxkv/client in the browser, against a real rxkv server', () => {
  let remote: RemoteDatabase;
  afterEach(() => remote?.close());

  const open = (): RemoteDatabase => (remote = connect(fixture.syncUrl, { reconnect: { minDelay: 10, maxDelay: 100 } }));

  it('should receive the snapshot of a subscription, then live patches', async () => {
    const table = freshTable();
    await serverSide('put', { table, key: 'a', value: { title: 'one' } });
    await serverSide('put', { table, key: 'b', value: { title: 'two' } });
    const todos = open().table(table);
    const changes: Change[] = [];
    todos.changes({ initial: true }).subscribe((change) => changes.push(change));
    await eventually(() => changes.length === 2, 'the snapshot');
    expect([...todos.entries()]).toEqual([
      ['a', { title: 'one' }],
      ['b', { title: 'two' }],
    ]);
    await serverSide('merge', { table, key: 'a', value: { done: true, tags: ['x'] } });
    await eventually(() => changes.length === 3, 'the patch');
    const change = changes[2]!;
    expect(change.op).toBe('merge');
    expect(change.patch).toEqual([
      { op: 'add', path: '/done', value: true },
      { op: 'add', path: '/tags', value: ['x'] },
    ]);
    expect(todos.get('a')).toEqual({ title: 'one', done: true, tags: ['x'] });
  });

  it('should write through the server, the reply coming after the replica shows the change', async () => {
    const table = freshTable();
    const todos = open().table(table);
    const seen: unknown[] = [];
    todos.watch('k').subscribe((value) => seen.push(value));
    const seq = await todos.merge('k', { n: 1 });
    expect(todos.get('k')).toEqual({ n: 1 });
    expect(seq).toBeGreaterThan(0);
    expect((await serverSide('get', { table, key: 'k' })).value).toEqual({ n: 1 });
    await todos.delete('k');
    expect(todos.has('k')).toBeFalse();
    expect(seen).toEqual([undefined, { n: 1 }, undefined]);
  });

  it('should resume after the server cuts the connection: no change lost, repeated or reordered', async () => {
    const table = freshTable();
    await serverSide('put', { table, key: 'c', value: { n: 0 } });
    const db = open();
    const values: number[] = [];
    db.table<{ n: number }>(table).watch('c').subscribe((value) => values.push(value!.n));
    await eventually(() => values.length === 1, 'the snapshot');
    const states: string[] = [];
    db.status$.subscribe((status) => states.at(-1) !== status.state && states.push(status.state));
    expect((await serverSide('drop')).dropped).toBeGreaterThan(0);
    for (let n = 1; n <= 10; n++) await serverSide('merge', { table, key: 'c', value: { n } });
    await eventually(() => values.at(-1) === 10, 'the changes after the drop');
    expect(states).toEqual(['open', 'connecting', 'open']);
    // Replayed from the server's log: every change, once, in order.
    expect(values).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('should take a snapshot of several pages (256 KiB each) and show it whole, never a part', async () => {
    const table = freshTable();
    await serverSide('fill', { table, count: 3000, bytes: 300 }); // about 1 MB
    const sizes: number[] = [];
    open()
      .table(table)
      .state$.subscribe((snapshot) => sizes.push(snapshot.size));
    await eventually(() => sizes.length === 1, 'the snapshot');
    expect(sizes).toEqual([3000]);
    expect(remote.table(table).get('k002999')).toEqual({ i: 2999, text: 'x'.repeat(300) });
  });

  it('should take the same snapshot and live patches from a server that compresses its messages (perMessageDeflate)', async () => {
    const table = freshTable();
    await serverSide('fill', { table, count: 3000, bytes: 300 });
    remote = connect(fixture.compressedSyncUrl, { reconnect: { minDelay: 10, maxDelay: 100 } });
    const sizes: number[] = [];
    remote.table(table).state$.subscribe((snapshot) => sizes.push(snapshot.size));
    await eventually(() => sizes.length === 1, 'the snapshot');
    expect(sizes).toEqual([3000]);
    for (let i = 0; i < 20; i++) await serverSide('merge', { table, key: 'k000007', value: { text: `v${i}`, n: i } });
    await eventually(() => (remote.table(table).get('k000007') as { n?: number }).n === 19, 'the last patch');
    expect(remote.table(table).get('k000007')).toEqual({ i: 7, text: 'v19', n: 19 });
    expect(remote.table(table).get('k002999')).toEqual({ i: 2999, text: 'x'.repeat(300) });
  });
});
