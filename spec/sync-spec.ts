import jsonpatch from 'fast-json-patch';
import { toArray, take, firstValueFrom } from 'rxjs';
import { ofOp, toMap } from 'rxkv/operators';
import { RxkvError, type Change, type RemoteDatabase } from 'rxkv/client';
import { removeTempDirs } from './helpers/temp.js';
import { rejectedCode } from './helpers/db.js';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually, startServer, stopServer, until, type Served } from './helpers/sync.js';

describe('sync: rxkv/server and rxkv/client over loopback', () => {
  let served: Served | undefined;
  const clients: RemoteDatabase[] = [];
  const connect = (url = served!.url, options = {}): RemoteDatabase => {
    const remote = client(url, options);
    clients.push(remote);
    return remote;
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((remote) => remote.close()));
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  describe('subscriptions', () => {
    beforeEach(async () => {
      served = await startServer();
      const todos = served.db.table('todos');
      await Promise.all([todos.put('a1', { title: 'one' }), todos.put('a2', { title: 'two' }), todos.put('b1', { title: 'three' })]);
    });

    it('should send a { key } subscription its record, then each change of it, and nothing else', async () => {
      const todos = connect().table('todos');
      const seen: unknown[] = [];
      todos.watch('a1').subscribe((value) => seen.push(value));
      await eventually(() => seen.length === 1, 'the snapshot');
      expect(seen).toEqual([{ title: 'one' }]);
      await served!.db.table('todos').merge('a1', { done: true });
      await served!.db.table('todos').merge('b1', { done: true });
      await served!.db.table('todos').delete('a1');
      await eventually(() => seen.length === 3, 'two changes');
      expect(seen).toEqual([{ title: 'one' }, { title: 'one', done: true }, undefined]);
      expect(todos.has('b1')).toBeFalse();
    });

    it('should keep the replica of a { prefix } subscription equal to the server, creations and deletions included', async () => {
      const todos = connect().table('todos');
      const changes: Change[] = [];
      todos.changes({ prefix: 'a' }).subscribe((change) => changes.push(change));
      await eventually(() => todos.size === 2, 'the snapshot');
      const server = served!.db.table('todos');
      await server.put('a3', { title: 'four' });
      await server.delete('a2');
      await server.put('b2', { title: 'not mine' });
      await server.merge('a1', { tags: ['x'] });
      await eventually(() => changes.length === 3, 'three changes');
      expect(changes.map(({ op, key }) => `${op} ${key}`)).toEqual(['new a3', 'delete a2', 'merge a1']);
      expect([...todos.entries()]).toEqual([...server.range({ prefix: 'a' })]);
    });

    it('should carry RFC 6902 patches that take previous to value, in seq order', async () => {
      const todos = connect().table('todos');
      const changes: Change[] = [];
      todos.changes().subscribe((change) => changes.push(change));
      await eventually(() => todos.size === 3, 'the snapshot');
      const server = served!.db.table('todos');
      for (let i = 0; i < 20; i++) await server.merge(`a${i % 4}`, { n: i, nested: { list: [i, { deep: i % 3 === 0 ? null : i }] } });
      await server.delete('a2');
      await eventually(() => changes.length === 21, 'every change');
      for (const change of changes) {
        const replayed = change.op === 'delete' ? undefined : jsonpatch.applyPatch(structuredClone(change.previous) as object, change.patch as jsonpatch.Operation[], true, false).newDocument;
        expect(replayed).toEqual(change.value as never);
      }
      const seqs = changes.map((change) => change.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    });

    it('should begin with the current records as new changes with { initial: true }, and filter with where and ops', async () => {
      const todos = connect().table('todos');
      const initial = await firstValueFrom(todos.changes({ initial: true }).pipe(take(3), toArray()));
      expect(initial.map(({ op, key }) => `${op} ${key}`)).toEqual(['new a1', 'new a2', 'new b1']);
      const deletes: string[] = [];
      todos.changes({ ops: ['delete'], where: (value: any) => value.title === 'two' }).subscribe((change) => deletes.push(change.key));
      await served!.db.table('todos').delete('a1');
      await served!.db.table('todos').delete('a2');
      await eventually(() => deletes.length === 1, 'the delete');
      expect(deletes).toEqual(['a2']);
    });

    it('should share one server subscription among observers of the same filter, and drop its records after the last leaves', async () => {
      const todos = connect().table('todos');
      const first: unknown[] = [];
      const one = todos.watch('a1').subscribe((value) => first.push(value));
      await eventually(() => first.length === 1, 'the snapshot');
      const second: unknown[] = [];
      const two = todos.watch('a1').subscribe((value) => second.push(value));
      expect(second).toEqual([{ title: 'one' }]); // at once: the subscription is live already
      one.unsubscribe();
      await served!.db.table('todos').merge('a1', { done: true });
      await eventually(() => second.length === 2, 'the change');
      expect(first.length).toBe(1);
      two.unsubscribe();
      expect(todos.has('a1')).toBeFalse();
    });

    it('should emit state$ snapshots of the whole table, and let rxkv/operators work on the streams', async () => {
      const todos = connect().table('todos');
      const sizes: number[] = [];
      todos.state$.subscribe((snapshot) => sizes.push(snapshot.size));
      const deleted = firstValueFrom(todos.changes().pipe(ofOp('delete')));
      const map = firstValueFrom(todos.changes({ initial: true }).pipe(toMap(), take(4)).pipe(toArray()));
      await eventually(() => sizes.length === 1, 'the snapshot');
      await served!.db.table('todos').delete('b1');
      expect((await deleted).key).toBe('b1');
      expect([...(await map).at(-1)!.keys()]).toEqual(['a1', 'a2']);
      await eventually(() => sizes.length === 2, 'the next snapshot');
      expect(sizes).toEqual([3, 2]);
      expect([...todos.range({ gte: 'a2', limit: 5 })]).toEqual([['a2', { title: 'two' }]]);
      expect(Object.isFrozen(todos.get('a1'))).toBeTrue();
    });
  });

  describe('writes', () => {
    beforeEach(async () => {
      served = await startServer({}, { maxValueBytes: 1000 });
    });

    it('should resolve merge, put and delete with the durable seq, the writer\'s replica showing each by then', async () => {
      const todos = connect().table('todos');
      todos.watch('a').subscribe();
      await eventually(() => clients[0]!.status.state === 'open', 'the connection');
      const merged = await todos.merge('a', { title: 'one', tags: { x: 1 } });
      expect(todos.get('a')).toEqual({ title: 'one', tags: { x: 1 } });
      expect(served!.db.table('todos').meta('a')!.version).toBe(merged);
      const put = await todos.put('a', { title: 'replaced' });
      expect(put).toBeGreaterThan(merged);
      expect(todos.get('a')).toEqual({ title: 'replaced' });
      const deleted = await todos.delete('a');
      expect(deleted).toBe(served!.db.seq);
      expect(todos.has('a')).toBeFalse();
      expect(served!.db.table('todos').has('a')).toBeFalse();
    });

    it('should commit a transaction atomically, or nothing of it when one write fails', async () => {
      const remote = connect();
      const seq = await remote.transaction((tx) => {
        tx.table('a').put('x', { n: 1 });
        tx.table('b').merge('y', { n: 2 });
      });
      expect(served!.db.table('a').meta('x')!.version).toBe(seq);
      expect(served!.db.table('b').meta('y')!.version).toBe(seq);
      // Over the database's maxValueBytes: the transaction fails on the server, whole.
      const code = await rejectedCode(
        remote.transaction((tx) => {
          tx.table('a').delete('x');
          tx.table('b').merge('y', { text: 'x'.repeat(2000) });
        }),
      );
      expect(code).toBe('VALUE_TOO_LARGE');
      expect(served!.db.table('a').get('x')).toEqual({ n: 1 });
      expect(served!.db.table('b').get('y')).toEqual({ n: 2 });
    });

    it('should refuse a write larger than the server takes in one message, without losing the connection', async () => {
      await stopServer(served);
      served = await startServer({ maxMessageBytes: 4096 });
      const remote = connect();
      await until(remote, 'open');
      expect(await rejectedCode(remote.table('t').put('k', { text: 'é'.repeat(3000) }))).toBe('VALUE_TOO_LARGE');
      expect(remote.status.state).toBe('open');
      await remote.table('t').put('k', { text: 'é'.repeat(100) });
      expect(served.db.table('t').has('k')).toBeTrue();
    });

    it('should refuse, before sending, what is not a valid write', async () => {
      const todos = connect().table('todos');
      expect(() => todos.merge('', {})).toThrowMatching((error) => error instanceof RxkvError && error.code === 'INVALID_KEY');
      expect(() => todos.put('k', { f: () => 1 } as never)).toThrowMatching((error) => error instanceof RxkvError && error.code === 'INVALID_VALUE');
      expect(() => connect().table('no spaces')).toThrowMatching((error) => error instanceof RxkvError && error.code === 'INVALID_TABLE_NAME');
    });

    it('should answer writes with DATABASE_CLOSED once the database is closed, and stay up', async () => {
      const remote = connect();
      await until(remote, 'open');
      await served!.db.close();
      expect(await rejectedCode(remote.table('t').merge('k', { n: 1 }))).toBe('DATABASE_CLOSED');
      expect(remote.status.state).toBe('open');
      expect(served!.server.connections).toBe(1);
    });

    it('should send writes made while connecting once open', async () => {
      const todos = connect().table('todos');
      const writes = [todos.merge('a', { n: 1 }), todos.merge('a', { m: 2 })];
      const seqs = await Promise.all(writes);
      expect(seqs[1]).toBeGreaterThan(seqs[0]!);
      expect(served!.db.table('todos').get('a')).toEqual({ n: 1, m: 2 });
    });
  });

  describe('status and errors', () => {
    it('should go connecting, open, closed; complete streams and reject writes after close()', async () => {
      served = await startServer();
      const remote = connect();
      const states: string[] = [];
      remote.status$.subscribe((status) => states.push(status.state));
      let completed = false;
      remote.table('t').watch('k').subscribe({ complete: () => (completed = true) });
      await until(remote, 'open');
      await remote.close();
      expect(states).toEqual(['connecting', 'open', 'closed']);
      expect(completed).toBeTrue();
      expect(await rejectedCode(remote.table('t').merge('k', {}))).toBe('CLIENT_CLOSED');
    });

    it('should refuse a client with a bad token: status refused with a reason, streams error, writes reject', async () => {
      served = await startServer({ authenticate: ({ token }) => (token === 'good' ? { user: 'u' } : null) });
      const remote = connect(served.url, { token: 'bad' });
      let streamError: unknown;
      remote.table('t').watch('k').subscribe({ error: (error) => (streamError = error) });
      const pending = remote.table('t').merge('k', { n: 1 });
      await until(remote, 'refused');
      expect(remote.status.reason).toContain('authentication refused');
      expect(await rejectedCode(pending)).toBe('UNAUTHORIZED');
      expect((streamError as RxkvError).code).toBe('UNAUTHORIZED');
      expect(await rejectedCode(remote.table('t').merge('k', {}))).toBe('UNAUTHORIZED');
      expect(served.db.table('t').has('k')).toBeFalse();
      const good = connect(served.url, { token: async () => 'good' });
      await good.table('t').merge('k', { n: 2 });
      expect(served.db.table('t').get('k')).toEqual({ n: 2 });
    });

    it('should error a stream the server forbids, and reject a forbidden write leaving the database untouched', async () => {
      served = await startServer({
        authenticate: ({ token }) => ({ user: token }),
        authorize: async (principal: { user: string }, { action, table, key }) => table === 'public' || (action === 'read' && key === principal.user),
      });
      const remote = connect(served.url, { token: 'alice' });
      const errors: string[] = [];
      remote.table('private').changes().subscribe({ error: (error) => errors.push(error.code) });
      remote.table('private').watch('bob').subscribe({ error: (error) => errors.push(error.code) });
      const own: unknown[] = [];
      remote.table('private').watch('alice').subscribe((value) => own.push(value));
      await eventually(() => errors.length === 2 && own.length === 1, 'the answers');
      expect(errors).toEqual(['FORBIDDEN', 'FORBIDDEN']);
      expect(await rejectedCode(remote.table('private').merge('alice', { n: 1 }))).toBe('FORBIDDEN');
      expect(served.db.table('private').size).toBe(0);
      await remote.table('public').merge('x', { n: 1 });
      expect(served.db.table('public').get('x')).toEqual({ n: 1 });
    });

    it('should apply a client\'s writes in the order sent, however long an async authorize takes for each', async () => {
      let calls = 0;
      served = await startServer({
        // The first answers come last: a server that started writes as their verdicts came would reorder them.
        authorize: (_principal: unknown, { action }) => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), action === 'write' ? 40 - 2 * Math.min(calls++, 20) : 0)),
      });
      const table = connect().table('t');
      const seqs = await Promise.all(Array.from({ length: 20 }, (_, n) => table.merge('k', { n, [`at${n}`]: n })));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect((served.db.table('t').get('k') as { n: number }).n).toBe(19);
    });

    it('should error the stream that goes past maxSubscriptions', async () => {
      served = await startServer({ maxSubscriptions: 2 });
      const table = connect().table('t');
      const errors: string[] = [];
      for (const key of ['a', 'b', 'c']) table.watch(key).subscribe({ error: (error) => errors.push(`${key} ${error.code}`) });
      await eventually(() => errors.length === 1, 'the refusal');
      expect(errors).toEqual(['c LIMIT_EXCEEDED']);
    });
  });

  describe('resume', () => {
    let proxy: TcpProxy;
    afterEach(() => proxy.close());

    for (const { name, logSize, logIdle, replayed } of [
      { name: 'replaying the missed changes from the log', logSize: 1000, logIdle: 30_000, replayed: true },
      { name: 'with what changed since when the log no longer covers the gap', logSize: 2, logIdle: 30_000, replayed: false },
      { name: 'with what changed since when the server stopped following changes, no client being connected', logSize: 1000, logIdle: 0, replayed: false },
    ]) {
      it(`should resume after a drop ${name}: no change lost, repeated or reordered`, async () => {
        served = await startServer({ logSize, logIdle });
        proxy = await TcpProxy.start(served.server.port);
        const remote = connect(`ws://127.0.0.1:${proxy.port}`);
        const server = served.db.table('todos');
        await server.put('a', { n: 0 });
        const todos = remote.table('todos');
        const changes: Change[] = [];
        todos.changes({ initial: true }).subscribe((change) => changes.push(change));
        await eventually(() => todos.get('a') !== undefined, 'the snapshot');
        const states: string[] = [];
        remote.status$.subscribe((status) => states.at(-1) !== status.state && states.push(status.state));
        proxy.block(true);
        proxy.drop();
        await until(remote, 'connecting');
        for (let n = 1; n <= 5; n++) await server.merge('a', { n });
        await server.put('b', { n: 0 });
        proxy.block(false);
        await until(remote, 'open');
        await eventually(() => todos.get('b') !== undefined && (todos.get('a') as { n: number }).n === 5, 'the missed changes');
        expect(states).toEqual(['open', 'connecting', 'open']);
        if (replayed) expect(changes.map((change) => (change.value as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 0]);
        else expect(changes.map(({ op, key, value }) => `${op} ${key} ${JSON.stringify(value)}`)).toEqual(['new a {"n":0}', 'merge a {"n":5}', 'new b {"n":0}']);
        const seqs = changes.map((change) => change.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        await server.merge('a', { n: 6 });
        await eventually(() => (todos.get('a') as { n: number }).n === 6, 'live changes after the resume');
        expect([...todos.entries()]).toEqual([...server.entries()]);
      });
    }

    for (const { missed, replayed } of [
      { missed: 8, replayed: true },
      { missed: 40, replayed: false },
    ]) {
      it(`should resume ${replayed ? 'by replaying the log' : 'with what changed since'} when ${missed} missed changes of text in many scripts ${replayed ? 'fit in' : 'outgrow'} logBytes, after the log went round many times`, async () => {
        // Each change's JSON is about 150 bytes: 2 KiB hold 8 of them, not 40.
        const { db } = (served = await startServer({ logSize: 1000, logBytes: 2048 }));
        proxy = await TcpProxy.start(served.server.port);
        const remote = connect(`ws://127.0.0.1:${proxy.port}`);
        const server = db.table('texts');
        const texts = remote.table('texts');
        const text = (n: number) => `${n} ${'é✓ж漢'.repeat(n % 5)}${'x'.repeat((n * 7) % 23)}`;
        // Written before the subscription, and seen once through `initial`: a `changes()` without
        // it would miss a write committed before the server had the subscription.
        await server.put('k0', { text: text(0) });
        const seen: string[] = [];
        texts.changes({ initial: true }).subscribe((change) => seen.push(`${change.key} ${(change.value as { text: string } | undefined)?.text}`));
        await eventually(() => seen.length === 1, 'the subscription');
        // Of varied lengths, so that the log's ring wraps at a different place each time round.
        for (let n = 1; n < 200; n++) await server.put(`k${n % 7}`, { text: text(n) });
        await eventually(() => seen.length === 200, 'the changes while connected');
        proxy.block(true);
        proxy.drop();
        await until(remote, 'connecting');
        for (let n = 200; n < 200 + missed; n++) await server.put(`k${n % 7}`, { text: text(n) });
        proxy.block(false);
        await until(remote, 'open');
        await eventually(() => remote.seq === db.seq, 'the missed changes');
        const missedSeen = seen.slice(200);
        if (replayed) expect(missedSeen).toEqual(Array.from({ length: missed }, (_, i) => `k${(200 + i) % 7} ${text(200 + i)}`));
        else expect(missedSeen.length).toBe(7); // each of the 7 records once, as it is now
        expect([...texts.entries()]).toEqual([...server.entries()]);
      });
    }

    it('should send a write in flight again when the connection drops before it reached the server: it resolves once and applies once', async () => {
      served = await startServer();
      proxy = await TcpProxy.start(served.server.port);
      const remote = connect(`ws://127.0.0.1:${proxy.port}`);
      await until(remote, 'open');
      const applied: number[] = [];
      served.db.table('t').changes({ key: 'k' }).subscribe((change) => applied.push(change.seq));
      proxy.stall(true);
      const write = remote.table('t').merge('k', { n: 1 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      proxy.drop();
      proxy.stall(false);
      const seq = await write;
      expect(applied).toEqual([seq]);
      expect(served.db.table('t').get('k')).toEqual({ n: 1 });
      await remote.table('t').merge('k', { m: 2 });
      expect(served.db.table('t').get('k')).toEqual({ n: 1, m: 2 });
      await remote.close();
    });

    it('should answer a write sent again after its reply was cut off with its original seq, never applying it twice', async () => {
      served = await startServer();
      proxy = await TcpProxy.start(served.server.port);
      const remote = connect(`ws://127.0.0.1:${proxy.port}`, { reconnect: { minDelay: 5, maxDelay: 20 } });
      await until(remote, 'open');
      const applied: number[] = [];
      served.db.table('t').changes().subscribe((change) => applied.push(change.seq));
      // The reply is cut off, and the client kept out until the record changed again on the server:
      // the write applied a second time would undo that change.
      let cut = false;
      proxy.cutBefore((text) => {
        if (!text.includes('"type":"committed"')) return false;
        proxy!.block(true);
        cut = true;
        return true;
      });
      const write = remote.transaction((tx) => {
        tx.table('t').put('log', { at: 1 });
        tx.table('t').merge('k', { n: 1 });
      });
      await eventually(() => cut, 'the reply to be cut off');
      await served.db.table('t').merge('k', { n: 5 });
      proxy.block(false);
      const seq = await write;
      expect(applied).toEqual([seq, seq, seq + 1]);
      expect(served.db.table('t').get('k')).toEqual({ n: 5 });
      await remote.close();
    });
  });
});
