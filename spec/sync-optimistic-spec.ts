import { firstValueFrom } from 'rxjs';
import { ErrorCode } from 'rxkv';
import type { Access } from 'rxkv/server';
import type { Change, RemoteDatabase } from 'rxkv/client';
import { rejectedCode, thrownCode } from './helpers/db.js';
import { client, eventually, startServer, stopServer, type Served } from './helpers/sync.js';
import { removeTempDirs } from './helpers/temp.js';

/** What a stream of changes saw, without the times. */
const seen = (changes: readonly Change[]) => changes.map(({ key, op, value, previous, pending }) => ({ key, op, value, previous, pending: pending === true }));

describe('sync: optimistic writes', () => {
  let served: Served | undefined;
  const remotes: RemoteDatabase[] = [];
  /** Writes by principals named 'held' wait for `release()` in `authorize`. */
  let release: () => void = () => undefined;
  let held: Promise<void> = Promise.resolve();

  const hold = (): void => {
    held = new Promise((resolve) => (release = resolve));
  };

  beforeEach(async () => {
    held = Promise.resolve();
    served = await startServer({
      authenticate: ({ token }) => token ?? 'anyone',
      authorize: async (principal: string, access: Access) => {
        if (access.action !== 'write') return true;
        if (access.key === 'locked') return false;
        if (principal === 'held') await held;
        return true;
      },
    });
    await served.db.transaction((tx) => {
      tx.table('t').put('a', { n: 1, m: 1 });
      tx.table('t').put('locked', { v: 1 });
    });
  });

  afterEach(async () => {
    release();
    for (const remote of remotes.splice(0)) await remote.close();
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  /** A client following every change of table t, once its records are in. */
  async function following(options: Parameters<typeof client>[1] = {}): Promise<{ remote: RemoteDatabase; changes: Change[] }> {
    const remote = client(served!.url, { optimistic: true, ...options });
    remotes.push(remote);
    const changes: Change[] = [];
    remote.table('t').changes().subscribe((change) => changes.push(change));
    await eventually(() => remote.table('t').get('a') !== undefined, 'the snapshot');
    return { remote, changes };
  }

  it('should show a write in the same tick, in reads, streams and snapshots, and nothing more when the server confirms it', async () => {
    const { remote, changes } = await following();
    const table = remote.table('t');
    const watched: unknown[] = [];
    table.watch('a').subscribe((value) => watched.push(value));
    await eventually(() => watched.length === 1, "the watch's record");
    const counts: number[] = [];
    remote.pending$.subscribe((count) => counts.push(count));

    const written = table.merge('a', { n: 2 });
    expect(table.get('a')).toEqual({ n: 2, m: 1 });
    expect(table.snapshot().hasPendingWrites).toBeTrue();
    expect(seen(changes)).toEqual([{ key: 'a', op: 'merge', value: { n: 2, m: 1 }, previous: { n: 1, m: 1 }, pending: true }]);
    expect(watched).toEqual([{ n: 1, m: 1 }, { n: 2, m: 1 }]);
    expect(counts).toEqual([0, 1]);

    const seq = await written;
    expect(served!.db.table('t').meta('a')?.version).toBe(seq);
    expect(counts).toEqual([0, 1, 0]);
    expect(remote.seq).toBeGreaterThanOrEqual(seq);
    expect(changes.length).withContext('the confirmation changed nothing visible').toBe(1);
    expect(watched.length).toBe(2);
    expect(table.snapshot().hasPendingWrites).toBeFalse();
    expect(table.get('a')).toEqual({ n: 2, m: 1 });
  });

  it('should roll a refused write back, the stream emitting the change back, and reject with the server\'s error', async () => {
    const { remote, changes } = await following();
    const table = remote.table('t');
    const written = table.merge('locked', { v: 2 });
    expect(table.get('locked')).toEqual({ v: 2 });
    expect(await rejectedCode(written)).toBe(ErrorCode.FORBIDDEN);
    expect(table.get('locked')).toEqual({ v: 1 });
    expect(seen(changes)).toEqual([
      { key: 'locked', op: 'merge', value: { v: 2 }, previous: { v: 1 }, pending: true },
      { key: 'locked', op: 'merge', value: { v: 1 }, previous: { v: 2 }, pending: false },
    ]);
    expect(await firstValueFrom(remote.pending$)).toBe(0);
    expect(served!.db.table('t').get('locked')).toEqual({ v: 1 });
  });

  it('should rebase a pending write on a server change of its record, then show the confirmed value without flicker', async () => {
    hold();
    const { remote, changes } = await following({ token: 'held' });
    const table = remote.table('t');
    const written = table.merge('a', { n: 2 });
    // Another writer changes the record while the write waits on the server.
    await served!.db.table('t').merge('a', { m: 5 });
    await eventually(() => changes.length === 2, 'the rebased value');
    expect(seen(changes)[1]).toEqual({ key: 'a', op: 'merge', value: { n: 2, m: 5 }, previous: { n: 2, m: 1 }, pending: true });
    release();
    await written;
    expect(served!.db.table('t').get('a')).toEqual({ n: 2, m: 5 });
    expect(table.get('a')).toEqual({ n: 2, m: 5 });
    expect(seen(changes).length).withContext(JSON.stringify(seen(changes))).toBe(2);
    expect(await firstValueFrom(remote.pending$)).toBe(0);
  });

  it('should show a later server write over a confirmed one once the write is confirmed', async () => {
    hold();
    const { remote, changes } = await following({ token: 'held' });
    const table = remote.table('t');
    const written = table.put('a', { n: 7 });
    release();
    await written;
    // Confirmed and let go: a later write of the server shows as it is.
    await served!.db.table('t').put('a', { n: 8 });
    await eventually(() => (table.get('a') as { n: number } | undefined)?.n === 8, 'the later write');
    expect(seen(changes).map((change) => [change.value, change.pending])).toEqual([
      [{ n: 7 }, true],
      [{ n: 8 }, false],
    ]);
  });

  it('should follow the client default unless a write says otherwise, for transactions too', async () => {
    const { remote, changes } = await following({ optimistic: false });
    const table = remote.table('t');
    const plain = table.merge('a', { n: 3 });
    expect(table.get('a')).toEqual({ n: 1, m: 1 });
    await plain;
    await eventually(() => changes.length === 1, 'the committed change');
    expect(changes[0]!.pending).toBeUndefined();

    const shown = remote.transaction(
      (tx) => {
        tx.table('t').delete('a');
        tx.table('t').put('b', { fresh: true });
      },
      { optimistic: true },
    );
    expect(table.get('a')).toBeUndefined();
    expect(table.get('b')).toEqual({ fresh: true });
    expect(table.size).toBe(2); // b and locked
    expect(seen(changes.slice(1))).toEqual([
      { key: 'a', op: 'delete', value: undefined, previous: { n: 3, m: 1 }, pending: true },
      { key: 'b', op: 'new', value: { fresh: true }, previous: undefined, pending: true },
    ]);
    await shown;
    expect(changes.length).toBe(3);
    expect([...table.keys()]).toEqual(['b', 'locked']);
  });

  it('should keep what it shows when the caller changes its own object after the call', async () => {
    const { remote } = await following();
    const patch = { n: 4 };
    const written = remote.table('t').merge('a', patch);
    patch.n = 99;
    expect(remote.table('t').get('a')).toEqual({ n: 4, m: 1 });
    expect(Object.isFrozen(remote.table('t').get('a'))).toBeTrue();
    await written;
  });

  it('should roll back a write the server does not answer within writeTimeout', async () => {
    hold();
    const { remote, changes } = await following({ token: 'held', writeTimeout: 200 });
    const written = remote.table('t').merge('a', { n: 9 });
    expect(remote.table('t').get('a')).toEqual({ n: 9, m: 1 });
    expect(await rejectedCode(written)).toBe(ErrorCode.TIMEOUT);
    expect(remote.table('t').get('a')).toEqual({ n: 1, m: 1 });
    expect(seen(changes).map((change) => change.pending)).toEqual([true, false]);
  });

  it('should refuse a write past maxPendingWrites with LIMIT_EXCEEDED, showing nothing of it', async () => {
    hold();
    const { remote, changes } = await following({ token: 'held', maxPendingWrites: 2 });
    const table = remote.table('t');
    const first = table.merge('a', { n: 2 });
    const second = table.merge('a', { n: 3 });
    expect(await rejectedCode(table.merge('a', { n: 4 }))).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(table.get('a')).toEqual({ n: 3, m: 1 });
    expect(changes.length).toBe(2);
    expect(await firstValueFrom(remote.pending$)).toBe(2);
    release();
    await Promise.all([first, second]);
    expect(served!.db.table('t').get('a')).toEqual({ n: 3, m: 1 });
  });

  it('should refuse options that are not what they say with INVALID_ARGUMENT', async () => {
    expect(thrownCode(() => client(served!.url, { optimistic: 'yes' as never }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(thrownCode(() => client(served!.url, { maxPendingWrites: 0 }))).toBe(ErrorCode.INVALID_ARGUMENT);
    const { remote } = await following();
    expect(thrownCode(() => remote.table('t').merge('a', { n: 5 }, { optimistic: 1 as never }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(await rejectedCode(remote.transaction((tx) => tx.table('t').delete('a'), null as never))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(remote.table('t').get('a')).toEqual({ n: 1, m: 1 });
  });
});
