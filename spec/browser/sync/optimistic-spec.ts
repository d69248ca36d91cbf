import { firstValueFrom } from 'rxjs';
import { connect, ErrorCode, RxkvError, type Change, type RemoteDatabase } from 'rxkv/client';
import { eventually, fixture, freshTable, serverSide } from './fixture.js';

describe('rxkv/client optimistic writes in the browser, against a real rxkv server', () => {
  let remote: RemoteDatabase | undefined;
  afterEach(() => remote?.close());

  /** A replica of a fresh table holding record `a`, every change of it recorded. */
  async function following(url: string, options: Parameters<typeof connect>[1] = {}) {
    const table = freshTable();
    await serverSide('put', { table, key: 'a', value: { n: 1 } });
    remote = connect(url, { optimistic: true, reconnect: { minDelay: 10, maxDelay: 100 }, ...options });
    const changes: Change[] = [];
    remote.table(table).changes().subscribe((change) => changes.push(change));
    await eventually(() => remote!.table(table).get('a') !== undefined, 'the snapshot');
    return { table, records: remote.table(table), changes };
  }

  it('should show a write in the same tick and emit nothing more when the server confirms it', async () => {
    const { table, records, changes } = await following(fixture.syncUrl);
    const written = records.merge('a', { done: true });
    expect(records.get('a')).toEqual({ n: 1, done: true });
    expect(changes.map(({ value, pending }) => [value, pending])).toEqual([[{ n: 1, done: true }, true]]);
    expect(records.snapshot().hasPendingWrites).toBeTrue();
    await written;
    expect(changes.length).toBe(1);
    expect(await firstValueFrom(remote!.pending$)).toBe(0);
    expect(records.snapshot().hasPendingWrites).toBeFalse();
    expect((await serverSide('get', { table, key: 'a' })).value).toEqual({ n: 1, done: true });
  });

  it('should roll a refused write back with the change back on the stream, and reject with FORBIDDEN', async () => {
    const { records, changes } = await following(fixture.secureSyncUrl, { token: 'reader' });
    const written = records.put('a', { n: 2 });
    expect(records.get('a')).toEqual({ n: 2 });
    const error = await written.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect((error as RxkvError).code).toBe(ErrorCode.FORBIDDEN);
    expect(records.get('a')).toEqual({ n: 1 });
    expect(changes.map(({ value, previous, pending }) => [previous, value, pending === true])).toEqual([
      [{ n: 1 }, { n: 2 }, true],
      [{ n: 2 }, { n: 1 }, false],
    ]);
  });

  it('should rebase a write made offline on what the server changed meanwhile, never showing it reverted', async () => {
    const { table, records, changes } = await following(fixture.syncUrl, { reconnect: { minDelay: 300, maxDelay: 300 } });
    await serverSide('drop');
    await eventually(() => remote!.status.state === 'connecting', 'the drop');
    const written = records.merge('a', { mine: true });
    expect(records.get('a')).toEqual({ n: 1, mine: true });
    await serverSide('merge', { table, key: 'a', value: { theirs: true } });
    await written;
    expect(records.get('a')).toEqual({ n: 1, mine: true, theirs: true });
    expect((await serverSide('get', { table, key: 'a' })).value).toEqual({ n: 1, mine: true, theirs: true });
    // Shown from the call on, through the rebase and the confirmation: never without it.
    for (const change of changes) expect(change.value).withContext(JSON.stringify(change)).toEqual(jasmine.objectContaining({ mine: true }));
    expect(changes.at(-1)!.value).toEqual({ n: 1, mine: true, theirs: true });
    expect(await firstValueFrom(remote!.pending$)).toBe(0);
  });
});
