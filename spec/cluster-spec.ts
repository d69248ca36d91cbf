import { join } from 'node:path';
import { connect as natsConnect } from 'nats';
import { open, ErrorCode, type Database, type RxkvError } from 'rxkv';
import { serve, type SyncServer } from 'rxkv/server';
import { connect } from 'rxkv/client';
import { RawClient } from './helpers/sync.js';
import { startNatsCluster, type NatsCluster } from './helpers/nats-cluster.js';
import { Random } from './helpers/random.js';
import { eventually } from './helpers/sync.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

/** What each node showed: its change stream, in order, as `seq table/key op value`. */
type Seen = string[];

function follow(db: Database): Seen {
  const seen: Seen = [];
  db.changes().subscribe((change) => seen.push(`${change.seq} ${change.table}/${change.key} ${change.op} ${JSON.stringify(change.value)}`));
  return seen;
}

/** Every table of every node, record by record with its metadata. */
function contents(db: Database): unknown {
  return db.tableNames().map((name) => [name, [...db.table(name).range()].map(([key, value]) => [key, value, db.table(name).meta(key)])]);
}

/** The checks of a cluster run: the nodes hold the same records and gave the same changes in the same order. */
function differences(nodes: readonly { db: Database; seen: Seen }[]): string[] {
  const found: string[] = [];
  const [first, ...others] = nodes;
  others.forEach(({ db, seen }, i) => {
    if (JSON.stringify(contents(db)) !== JSON.stringify(contents(first!.db))) found.push(`node ${i + 2}'s tables differ from node 1's`);
    if (seen.join('\n') !== first!.seen.join('\n')) found.push(`node ${i + 2}'s change stream differs from node 1's`);
  });
  return found;
}

describe('A cluster of rxkv nodes on NATS JetStream', () => {
  let nats: NatsCluster;
  let streams = 0;
  const opened: Database[] = [];

  beforeAll(async () => {
    nats = await startNatsCluster(3);
  }, 30_000);
  afterAll(async () => {
    await nats?.stop();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close().catch(() => undefined)));
    removeTempDirs();
  });

  const node = async (dir: string, stream: string, options: { timeout?: number; snapshotEvery?: number } = {}): Promise<Database> => {
    const db = await open(dir, { cluster: { servers: nats.urls, stream, ...options } });
    opened.push(db);
    return db;
  };
  const newStream = (): string => `spec-${process.pid}-${++streams}`;

  it('should give nodes that create the stream at once, each through another server, the same history', async () => {
    // Each peer of a stream may report its own creation time: the history is not derived from it.
    for (let round = 0; round < 6; round++) {
      const stream = newStream();
      const root = tempDir();
      const nodes = await Promise.all(nats.urls.map((url, i) => open(join(root, `n${i}`), { cluster: { servers: [url], stream } })));
      opened.push(...nodes);
      expect(new Set(nodes.map((db) => db.history)).size).withContext(`round ${round}`).toBe(1);
      await Promise.all(opened.splice(0).map((db) => db.close()));
    }
  }, 60_000);

  it('should bring three nodes writing at once to the same records, seqs and change streams (seeded)', async () => {
    const seed = Number(process.env['CLUSTER_SEED'] ?? Date.now() % 100_000);
    const random = new Random(seed);
    const stream = newStream();
    const root = tempDir();
    const nodes = await Promise.all([1, 2, 3].map(async (i) => {
      const db = await node(join(root, `n${i}`), stream);
      return { db, seen: follow(db) };
    }));
    const acknowledged = { increments: 0, produced: 0, transferred: 0, swapped: 0 };
    const merged = new Map<string, Record<string, number>>();
    const writes: Promise<unknown>[] = [];
    for (let n = 0; n < 1500; n++) {
      const { db } = random.pick(nodes);
      const choice = random.int(5);
      if (choice === 0) {
        const key = `k${random.int(40)}`;
        const field = `f${n}`;
        writes.push(db.table('docs').merge(key, { [field]: n }).then(() => merged.set(key, { ...merged.get(key), [field]: n })));
      } else if (choice === 1) {
        writes.push(db.table('counters').increment('hits', 'n', 1).then(() => acknowledged.increments++));
      } else if (choice === 2) {
        writes.push(db.table<{ n?: number }>('counters').produce('produced', (draft) => void (draft.n = (draft.n ?? 0) + 1)).then(() => acknowledged.produced++, () => undefined));
      } else if (choice === 3) {
        // A transfer between two accounts: the sum stays 0 whatever the order.
        const [from, to] = [`a${random.int(5)}`, `a${random.int(5)}`];
        writes.push(
          db
            .transaction((tx) => {
              const accounts = tx.table<{ balance: number }>('accounts');
              accounts.put(from, { balance: (accounts.get(from)?.balance ?? 0) - 1 });
              accounts.put(to, { balance: (accounts.get(to)?.balance ?? 0) + 1 });
            })
            .then(() => acknowledged.transferred++, () => undefined),
        );
      } else {
        // Compare and swap on a version: each success adds one, and none may be lost.
        const table = db.table<{ n: number }>('swaps');
        const version = table.meta('s')?.version ?? 0;
        writes.push(table.put('s', { n: (table.get('s')?.n ?? 0) + 1 }, { ifVersion: version }).then(() => acknowledged.swapped++, (error: RxkvError) => expect(error.code).toBe(ErrorCode.CONFLICT)));
      }
      if (random.chance(0.05)) await new Promise((resolve) => setTimeout(resolve, random.int(5)));
    }
    await Promise.all(writes);
    await Promise.all(nodes.map(({ db }) => db.sync()));

    expect(differences(nodes)).withContext(`seed ${seed}`).toEqual([]);
    for (const { db } of nodes) {
      expect(db.history).toBe(nodes[0]!.db.history);
      expect(db.seq).toBe(nodes[0]!.db.seq);
      expect(db.table('counters').get('hits')).toEqual({ n: acknowledged.increments });
      expect(db.table('counters').get('produced')).toEqual(acknowledged.produced === 0 ? undefined : { n: acknowledged.produced });
      expect(db.table<{ n: number }>('swaps').get('s')?.n ?? 0).toBe(acknowledged.swapped);
      const balances = [...db.table<{ balance: number }>('accounts').range()].map(([, { balance }]) => balance);
      expect(balances.reduce((sum, balance) => sum + balance, 0)).toBe(0);
      for (const [key, fields] of merged) expect(db.table('docs').get(key)).toEqual(jasmine.objectContaining(fields));
    }
    expect(acknowledged.produced).toBeGreaterThan(0);
    expect(acknowledged.transferred).toBeGreaterThan(0);

    // Negative control: the same checks catch a node that skipped one message's change.
    const skipping = { db: nodes[1]!.db, seen: nodes[1]!.seen.filter((_, i) => i !== 7) };
    expect(differences([nodes[0]!, skipping])).toEqual([`node 2's change stream differs from node 1's`]);
  }, 60_000);

  it('should replay only what a node missed when it reopens, and bring a new node up from the stream', async () => {
    const stream = newStream();
    const root = tempDir();
    const first = await node(join(root, 'n1'), stream);
    let second = await node(join(root, 'n2'), stream);
    for (let i = 0; i < 50; i++) await first.table('t').put(`k${i}`, { i });
    await second.sync();
    const seqBefore = second.seq;
    await second.close();
    for (let i = 50; i < 80; i++) await first.table('t').put(`k${i}`, { i });

    const replayed: number[] = [];
    second = await node(join(root, 'n2'), stream);
    expect(second.seq).toBe(first.seq); // open resolves once it applied what the stream held
    expect(second.seq).toBeGreaterThan(seqBefore);
    second.changes().subscribe((change) => replayed.push(change.seq));
    await first.table('t').put('after', { i: -1 });
    await second.sync();
    expect(replayed).toEqual([first.table('t').meta('after')!.version]);
    expect(second.table('t').size).toBe(81);

    const fresh = await node(join(root, 'n3'), stream);
    expect(fresh.seq).toBe(first.seq);
    expect([...fresh.table('t').range()]).toEqual([...first.table('t').range()]);
    expect(fresh.history).toBe(first.history);
  }, 60_000);

  it('should resolve a write with what every node computes: a failed ifVersion fails everywhere, a write is read on its node at once', async () => {
    const stream = newStream();
    const root = tempDir();
    const [a, b] = [await node(join(root, 'a'), stream), await node(join(root, 'b'), stream)];
    await a.table('t').put('x', { v: 1 });
    expect(a.table('t').get('x')).toEqual({ v: 1 }); // read your writes
    const version = a.table('t').meta('x')!.version;
    const [won, lost] = await Promise.allSettled([a.table('t').put('x', { v: 'a' }, { ifVersion: version }), b.table('t').put('x', { v: 'b' }, { ifVersion: version })]);
    expect([won.status, lost.status].sort()).toEqual(['fulfilled', 'rejected']);
    expect(((won.status === 'rejected' ? won : lost) as PromiseRejectedResult).reason.code).toBe(ErrorCode.CONFLICT);
    await b.sync();
    expect(b.table('t').get('x')).toEqual(a.table('t').get('x'));
    expect(b.table('t').meta('x')).toEqual(a.table('t').meta('x'));
  }, 30_000);

  it('should refuse, with CLUSTER_POSITION_LOST, a directory that is not a node of the cluster and one whose position left the stream', async () => {
    const stream = newStream();
    const root = tempDir();
    const plain = await open(join(root, 'plain'));
    await plain.table('t').put('x', { local: true });
    await plain.close();
    await expectAsync(node(join(root, 'plain'), stream)).toBeRejectedWith(jasmine.objectContaining({ code: ErrorCode.CLUSTER_POSITION_LOST }));

    const writer = await node(join(root, 'writer'), stream);
    const behind = await node(join(root, 'behind'), stream);
    await writer.table('t').put('a', { n: 1 });
    await behind.sync();
    await behind.close();
    for (let i = 0; i < 5; i++) await writer.table('t').put(`b${i}`, { n: i });
    // The stream drops its oldest messages (as its age or size limits do): the node's next one is gone.
    const nc = await natsConnect({ servers: nats.urls });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.purge(stream, { keep: 2 });
    await nc.close();
    await expectAsync(node(join(root, 'behind'), stream)).toBeRejectedWith(jasmine.objectContaining({ code: ErrorCode.CLUSTER_POSITION_LOST }));
  }, 30_000);

  it('should bring a new node, and one whose position left the stream, up from the newest snapshot plus the stream after it', async () => {
    const stream = newStream();
    const root = tempDir();
    const writer = await node(join(root, 'writer'), stream, { snapshotEvery: 10 });
    const behind = await node(join(root, 'behind'), stream, { snapshotEvery: 10 });
    await writer.table('t').put('first', { n: 0 });
    await behind.sync();
    await behind.close();
    for (let i = 0; i < 34; i++) await writer.table('t').merge(`k${i % 7}`, { [`f${i}`]: i });
    const nc = await natsConnect({ servers: nats.urls });
    const jsm = await nc.jetstreamManager();
    // The writer creates the object store with its first snapshot: bound to once it is there.
    for (let tries = 0; !(await jsm.streams.info(`OBJ_${stream}-snapshots`).then(() => true, () => false)); tries++) {
      expect(tries).toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const store = await nc.jetstream({ timeout: 500 }).views.os(`${stream}-snapshots`, { replicas: 3 });
    // Every 10 messages (one due while another is stored is taken after it, of the state then).
    const storedAt = (): Promise<number> => store.info('snapshot').then((info) => Number(info?.description ?? 0), () => 0); // busy while one is stored
    for (let tries = 0; (await storedAt()) < 30; tries++) {
      expect(tries).toBeLessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The stream drops what the snapshot holds: only the snapshot and the messages after it bring a node up.
    await jsm.streams.purge(stream, { keep: 5 });
    await nc.close();
    await writer.table('t').put('last', { n: 99 });

    const fresh = await node(join(root, 'fresh'), stream);
    const restarted = await node(join(root, 'behind'), stream);
    for (const db of [fresh, restarted]) {
      expect(db.seq).toBe(writer.seq);
      expect(db.history).toBe(writer.history);
      expect([...db.table('t').range()]).toEqual([...writer.table('t').range()]);
      expect(db.table('t').meta('k3')).toEqual(writer.table('t').meta('k3'));
    }
    await writer.table('t').put('after', { n: 100 });
    await fresh.sync();
    expect(fresh.table('t').get('after')).toEqual({ n: 100 });
  }, 60_000);

  it('should serve every node: clients of each see every write, a client resumes on another node, and a write sent again there is applied once', async () => {
    const stream = newStream();
    const root = tempDir();
    const [a, b] = [await node(join(root, 'a'), stream), await node(join(root, 'b'), stream)];
    const servers: SyncServer[] = [await serve(a), await serve(b)];
    const url = (server: SyncServer): string => `ws://127.0.0.1:${server.port}`;
    const [onA, onB] = [connect(url(servers[0]!)), connect(url(servers[1]!))];
    try {
      const seenOnB: unknown[] = [];
      const subscription = onB.table('t').watch('x').subscribe((value) => seenOnB.push(value));
      await onA.table('t').merge('x', { n: 1 }); // through node A's server
      await eventually(() => seenOnB.some((value) => JSON.stringify(value) === '{"n":1}'), "node B's client seeing node A's client's write", 10_000);
      subscription.unsubscribe();
      await b.table('t').put('y', { n: 2 }); // on node B itself
      await a.sync();

      // A client of node A that moves to node B: same history, same seqs, so it resumes there.
      const history = a.history;
      const since = a.seq;
      await a.table('t').put('z', { n: 3 });
      await b.sync();
      const moved = await RawClient.hello(url(servers[1]!));
      moved.send({ type: 'subscribe', id: 1, subs: [{ sub: 1, table: 't' }], since, history });
      await moved.reply(1);
      expect(moved.received.filter((message) => message.type === 'snapshot' && message.partial !== true)).toEqual([]);
      expect(moved.received.flatMap((message) => (message.type === 'changes' ? message.changes : message.type === 'snapshot' ? message.records.map(([key]: [string]) => ({ key })) : [])).map((change: { key: string }) => change.key)).toEqual(['z']);
      moved.close();

      // Exactly once across nodes: the ledger is replicated. A write answered by node A, sent again
      // to node B (its reply lost), is answered with its seq and not applied again.
      const first = await RawClient.hello(url(servers[0]!), undefined, 'client-1');
      first.send({ type: 'write', id: 1, m: 1, ops: [{ op: 'put', table: 't', key: 'w', value: { n: 1 } }] });
      const committed = await first.reply(1);
      expect(committed.type).toBe('committed');
      expect(committed.seq).toBe(a.table('t').meta('w')!.version);
      first.close();
      await b.sync();
      const again = await RawClient.hello(url(servers[1]!), undefined, 'client-1');
      again.send({ type: 'write', id: 1, m: 1, ops: [{ op: 'put', table: 't', key: 'w', value: { n: 'twice' } }] });
      expect(await again.reply(1)).toEqual({ type: 'committed', id: 1, seq: committed.seq });
      again.close();
      await a.sync();
      expect(a.table('t').get('w')).toEqual({ n: 1 });
      expect(b.table('t').get('w')).toEqual({ n: 1 });
    } finally {
      await Promise.all([onA.close(), onB.close()]);
      await Promise.all(servers.map((server) => server.close()));
    }
  }, 30_000);

  it('should stop a node with DATABASE_CORRUPTED on a message it cannot read, never skipping it, and keep its reads', async () => {
    const stream = newStream();
    const db = await node(join(tempDir(), 'n'), stream);
    await db.table('t').put('x', { n: 1 });
    const errors: RxkvError[] = [];
    db.errors$.subscribe((error) => errors.push(error));
    const nc = await natsConnect({ servers: nats.urls });
    await nc.jetstream().publish(`rxkv.${stream}`, new TextEncoder().encode('{"v":1,"node":"x","batch":1,"ts":1,"ops":[{"w":"merge","t":"t","k":"","p":{}}]}'));
    await nc.close();
    await eventually(() => errors.length > 0, 'the error', 10_000);
    expect(errors[0]!.code).toBe(ErrorCode.DATABASE_CORRUPTED);
    expect(errors[0]!.message).toContain('this node stops rather than skip it');
    expect(() => db.table('t').put('y', { n: 2 })).toThrowMatching((error: RxkvError) => error.code === ErrorCode.DATABASE_CORRUPTED);
    expect(db.table('t').get('x')).toEqual({ n: 1 });
  }, 30_000);

  it('should reject, before publishing, a write too large for a message, and cluster options that are not valid', async () => {
    const stream = newStream();
    const db = await node(join(tempDir(), 'n'), stream);
    expect(db.cluster).toBe(stream);
    expect(() => db.table('t').put('big', { text: 'x'.repeat(2 * 1024 * 1024) })).toThrowMatching((error: RxkvError) => error.code === ErrorCode.VALUE_TOO_LARGE);
    expect(db.table('t').has('big')).toBeFalse();
    for (const cluster of [{ servers: [], stream: 's' }, { servers: nats.urls, stream: 'a.b' }, { servers: nats.urls, stream: 's', replicas: 7 }, { servers: nats.urls, stream: 's', timeout: -1 }]) {
      await expectAsync(open(join(tempDir(), 'bad'), { cluster: cluster as never })).toBeRejectedWith(jasmine.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
    }
    await expectAsync(open(join(tempDir(), 'none'), { cluster: { servers: 'nats://127.0.0.1:1', stream: 's' } })).toBeRejectedWith(jasmine.objectContaining({ code: ErrorCode.CLUSTER_UNAVAILABLE }));
  }, 30_000);
});
