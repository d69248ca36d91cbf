import { firstValueFrom } from 'rxjs';
import { WebSocketServer } from 'ws';
import { uuid, type Json } from 'rxkv';
import { ErrorCode, RxkvError, type Change, type RemoteDatabase, type Status } from 'rxkv/client';
import { removeTempDirs } from './helpers/temp.js';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually, startServer, stopServer, until, type Served } from './helpers/sync.js';

const isSnapshot = (text: string): boolean => text.startsWith('{"type":"snapshot"');
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a replica survives: drops at the worst moments, dead paths, refusals it must not loop into. */
describe('sync: a replica through drops, dead connections and limits', () => {
  let served: Served | undefined;
  let proxy: TcpProxy | undefined;
  const clients: RemoteDatabase[] = [];

  async function start(serveOptions = {}, openOptions = {}): Promise<string> {
    served = await startServer(serveOptions, openOptions);
    proxy = await TcpProxy.start(served.server.port);
    return `ws://127.0.0.1:${proxy.port}`;
  }

  function connect(url: string, options = {}): RemoteDatabase {
    const remote = client(url, options);
    clients.push(remote);
    return remote;
  }

  function states(remote: RemoteDatabase): Status[] {
    const seen: Status[] = [];
    remote.status$.subscribe((status) => seen.push(status));
    return seen;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((remote) => remote.close()));
    await proxy?.close();
    proxy = undefined;
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  describe('a drop inside the subscribe exchange', () => {
    it('should not apply a change twice when the connection drops between a snapshot and its subscribed', async () => {
      const url = await start();
      const table = served!.db.table('t');
      await table.put('r', { list: [1] });
      const remote = connect(url);
      const other: unknown[] = [];
      remote.table('t').watch('other').subscribe((value) => other.push(value));
      await eventually(() => other.length === 1, 'the first subscription');
      // A change no live subscription covers: only the next snapshot brings it.
      await table.merge('r', { list: [1, 2] });
      proxy!.cutAfter(isSnapshot);
      const changes: Change[] = [];
      remote
        .table('t')
        .changes()
        .subscribe((change) => changes.push(change));
      await eventually(() => remote.table('t').get('r') !== undefined, 'the snapshot');
      await until(remote, 'connecting');
      await until(remote, 'open');
      await table.put('later', { n: 1 });
      await eventually(() => remote.table('t').has('later'), 'a change after the resume');
      expect(remote.table('t').get('r')).toEqual({ list: [1, 2] });
      expect(changes.map(({ op, key }) => `${op} ${key}`)).toEqual(['new later']);
    });

    it('should resume each subscription from its own position when a resume by snapshots is cut between two of them', async () => {
      // A log too small to replay from: the resume takes a snapshot per subscription.
      const url = await start({ logSize: 1 });
      const table = served!.db.table('t');
      await table.put('a', { list: [1] });
      await table.put('b', { list: [1] });
      const remote = connect(url);
      const seen = { a: [] as unknown[], b: [] as unknown[] };
      remote.table('t').watch('a').subscribe((value) => seen.a.push(value));
      remote.table('t').watch('b').subscribe((value) => seen.b.push(value));
      await eventually(() => seen.a.length === 1 && seen.b.length === 1, 'both records');
      proxy!.block(true);
      proxy!.drop();
      await until(remote, 'connecting');
      await table.merge('a', { list: [1, 2] });
      await table.merge('b', { list: [1, 2] });
      await table.merge('x', { n: 1 }); // pushes the changes of a and b out of the log
      proxy!.cutAfter(isSnapshot); // after the first subscription's snapshot only
      proxy!.block(false);
      await eventually(() => seen.a.length + seen.b.length === 3, 'the first snapshot');
      await until(remote, 'open');
      await eventually(() => seen.a.length === 2 && seen.b.length === 2, 'both records, once each');
      await table.merge('a', { list: [1, 2, 3] });
      await table.merge('b', { list: [1, 2, 3] });
      await eventually(() => seen.a.length === 3 && seen.b.length === 3, 'the next change of each');
      expect(seen.a).toEqual([{ list: [1] }, { list: [1, 2] }, { list: [1, 2, 3] }]);
      expect(seen.b).toEqual([{ list: [1] }, { list: [1, 2] }, { list: [1, 2, 3] }]);
    });
  });

  describe('subscriptions larger than one message', () => {
    const STREAMS = 40;
    const KEYS = 1000;

    async function manyKeyStreams(remote: RemoteDatabase, keys: string[][]): Promise<Change[][]> {
      const received = keys.map((): Change[] => []);
      keys.forEach((streamKeys, i) =>
        remote
          .table('t')
          .changes({ keys: streamKeys })
          .subscribe((change) => received[i]!.push(change)),
      );
      return received;
    }

    for (const when of ['before the first welcome', 'on a live connection']) {
      it(`should split a resubscription over messages that fit maxMessageBytes (streams made ${when}) and never loop into a refusal`, async () => {
        const url = await start();
        const keys = Array.from({ length: STREAMS }, () => Array.from({ length: KEYS }, () => uuid()));
        const remote = connect(url);
        const seen = states(remote);
        if (when === 'on a live connection') await until(remote, 'open');
        const received = await manyKeyStreams(remote, keys);
        // Subscriptions are answered in order: once a later one is live, the 40 before it are too.
        await firstValueFrom(remote.table('t').watch('sentinel'));
        const last = keys[STREAMS - 1]!;
        await served!.db.table('t').put(last[0]!, { n: 1 });
        await eventually(() => received[STREAMS - 1]!.length === 1, 'a change of the last stream');

        proxy!.drop();
        await until(remote, 'connecting');
        await until(remote, 'open');
        await served!.db.table('t').put(last[KEYS - 1]!, { n: 2 });
        await served!.db.table('t').put(keys[0]![0]!, { n: 3 });
        await eventually(() => received[STREAMS - 1]!.length === 2 && received[0]!.length === 1, 'changes after the resume');
        await delay(300); // a client looping into 1009 would have reconnected by now
        expect(seen.map((status) => status.state)).toEqual(['connecting', 'open', 'connecting', 'open']);
        expect(remote.table('t').get(last[KEYS - 1]!)).toEqual({ n: 2 });
      }, 20_000);
    }

    it('should refuse alone, and locally, a subscription that cannot fit in one message', async () => {
      const url = await start({ maxMessageBytes: 4096 });
      const remote = connect(url);
      await until(remote, 'open');
      const errors: unknown[] = [];
      remote
        .table('t')
        .changes({ keys: Array.from({ length: 200 }, () => uuid()) })
        .subscribe({ error: (error) => errors.push(error) });
      const small: unknown[] = [];
      remote.table('t').watch('a').subscribe((value) => small.push(value));
      await eventually(() => errors.length === 1 && small.length === 1, 'the refusal and the other stream');
      expect((errors[0] as RxkvError).code).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect(remote.status.state).toBe('open');
    });
  });

  describe('a server that closes every connection it welcomed', () => {
    it('should back off between attempts until a connection answers a request, not retry at the shortest delay', async () => {
      // Welcomes, then closes on the first request: a refusal the client would loop into.
      const sockets = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      let connections = 0;
      sockets.on('connection', (socket) => {
        connections++;
        socket.on('message', (data) => {
          const message = JSON.parse(data.toString());
          if (message.type === 'hello') socket.send(JSON.stringify({ type: 'welcome', v: message.v, history: 'fake', seq: 0, maxMessageBytes: 1 << 20 }));
          else socket.close(1011, 'refusing');
        });
      });
      await new Promise((resolve) => sockets.once('listening', resolve));
      try {
        const remote = connect(`ws://127.0.0.1:${(sockets.address() as { port: number }).port}`, { reconnect: { minDelay: 5, maxDelay: 10_000 } });
        remote.table('t').watch('k').subscribe();
        await delay(800);
        // Doubling from 5 ms with full jitter: about ten attempts in 800 ms; at the shortest delay, hundreds.
        expect(connections).toBeGreaterThan(2);
        expect(connections).toBeLessThan(30);
      } finally {
        await Promise.all(clients.splice(0).map((remote) => remote.close()));
        await new Promise((resolve) => sockets.close(resolve));
      }
    });
  });

  describe('the limit of keys per subscription', () => {
    it('should refuse a remote stream of more than 1000 keys at once, and not the streams made with it', async () => {
      const url = await start();
      await served!.db.table('t').put('a', { n: 1 });
      const remote = connect(url);
      const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
      let thrown: unknown;
      try {
        remote.table('t').changes({ keys });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RxkvError);
      expect((thrown as RxkvError).code).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect((thrown as RxkvError).message).toContain('at most 1000 keys');
      const seen: unknown[] = [];
      remote.table('t').watch('a').subscribe((value) => seen.push(value));
      const exactly: Change[] = [];
      remote
        .table('t')
        .changes({ keys: keys.slice(0, 1000) })
        .subscribe((change) => exactly.push(change));
      await eventually(() => seen.length === 1, 'the watch');
      await served!.db.table('t').put('k999', { n: 2 });
      await eventually(() => exactly.length === 1, 'a change of the 1000-key stream');
      expect(seen).toEqual([{ n: 1 }]);
    });
  });

  describe('a connection cut off without a close', () => {
    it("should be noticed by the client's own liveness check, and resumed once the path works again", async () => {
      // No server heartbeat: the client must notice by itself.
      const url = await start({ heartbeat: 0 });
      const remote = connect(url, { heartbeat: 100 });
      const seen = states(remote);
      const values: unknown[] = [];
      remote.table('t').watch('k').subscribe((value) => values.push(value));
      await eventually(() => values.length === 1, 'the subscription');
      proxy!.blackhole(true);
      const inFlight = remote.table('t').merge('w', { n: 1 });
      const cutAt = Date.now();
      await until(remote, 'connecting', 2000);
      const noticedAfter = Date.now() - cutAt;
      expect(noticedAfter).toBeLessThan(1000); // 2 to 3 heartbeats, and some slack
      expect(seen[seen.length - 1]!.reason).toContain('stopped answering');
      await served!.db.table('t').put('k', { n: 2 });
      // Still dead: attempts to reconnect are given up too, and retried.
      await delay(400);
      expect(remote.status.state).toBe('connecting');
      proxy!.blackhole(false);
      await until(remote, 'open', 5000);
      await eventually(() => values.length === 2, 'the change made while cut off');
      expect(values).toEqual([undefined, { n: 2 }]);
      // The write made as the path went dead was sent again once it worked: applied once.
      expect(await inFlight).toBe(served!.db.table('t').meta('w')!.version);
      expect(served!.db.table('t').get('w')).toEqual({ n: 1 });
    });

    it('should ping a quiet connection and keep it while the server answers', async () => {
      const url = await start({ heartbeat: 0 });
      const remote = connect(url, { heartbeat: 50 });
      const seen = states(remote);
      await until(remote, 'open');
      await delay(500); // ten heartbeats without any traffic of the application
      expect(seen.map((status) => status.state)).toEqual(['connecting', 'open']);
    });
  });

  describe('a client that fell behind', () => {
    it('should not be sent changes that never happened when what it is owed is squashed', async () => {
      const url = await start({ maxBufferedBytes: 64 * 1024 }, { durability: 'memory' });
      const table = served!.db.table('t');
      await table.put('k', { n: 1 });
      const remote = connect(url);
      const changes: Change[] = [];
      remote
        .table('t')
        .changes()
        .subscribe((change) => changes.push(change));
      await eventually(() => remote.table('t').has('k'), 'the snapshot');
      proxy!.stall(true);
      // 80 MB, more than loopback's socket buffers hold (here up to 32 MB to receive, 4 MB to
      // send): the server falls behind and squashes.
      const FILL = 2500;
      for (let i = 0; i < FILL; i++) await table.put('fill', { text: String.fromCharCode(97 + (i % 26)).repeat(32 * 1024) });
      await table.put('tmp', { n: 1 });
      await table.delete('tmp');
      await table.put('k', { n: 2 });
      await table.put('k', { n: 1 });
      await table.put('end', { n: 1 });
      proxy!.stall(false);
      await eventually(() => remote.table('t').has('end'), 'the catch-up', 15_000);
      const fills = changes.filter((change) => change.key === 'fill').length;
      expect(fills).withContext('squashed (the precondition)').toBeLessThan(FILL);
      const about = (key: string): string[] => changes.filter((change) => change.key === key).map((change) => `${change.op} ${JSON.stringify(change.patch)}`);
      expect(about('tmp')).toEqual([]);
      expect(about('k')).toEqual([]);
      expect(changes.every((change) => change.patch.length > 0)).toBeTrue();
      expect(remote.table('t').get('k')).toEqual({ n: 1 });
    }, 30_000);
  });

  describe('a token function that fails', () => {
    it('should be retried with backoff, reported on status$, and not taken for a refusal', async () => {
      const url = await start({ authenticate: ({ token }: { token?: string }) => (token === 'good' ? { user: 'u' } : null) });
      let calls = 0;
      const remote = connect(url, {
        token: () => {
          calls++;
          if (calls === 2) throw new Error('the session is being renewed');
          return 'good';
        },
      });
      const seen = states(remote);
      const values: (Json | undefined)[] = [];
      remote.table('t').watch('k').subscribe((value) => values.push(value as Json | undefined));
      await eventually(() => values.length === 1, 'the subscription');
      proxy!.drop();
      await eventually(() => seen.some((status) => status.reason?.includes('token function failed') === true), 'the failure on status$');
      await served!.db.table('t').put('k', { n: 1 });
      await eventually(() => calls >= 3 && remote.status.state === 'open', 'the retry');
      await eventually(() => values.length === 2, 'the change');
      expect(values).toEqual([undefined, { n: 1 }]);
      expect(seen.some((status) => status.state === 'refused')).toBeFalse();
    });
  });
});
