import { memoryStore, type Change, type ChangeFilter, type RemoteDatabase } from 'rxkv/client';
import { open, type Json, type OpenOptions } from 'rxkv';
import { serve, type Access, type ServeOptions } from 'rxkv/server';
import { Random } from './helpers/random.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';
import { TcpProxy } from './helpers/proxy.js';
import { client, eventually, startServer, stopServer, type Served } from './helpers/sync.js';

const SEEDS = 16;
const STEPS = 300;
const KEYS = ['a1', 'a2', 'a3', 'b1', 'b2', 'c1'];
const TABLES = ['t', 'u'];
const FILTERS: ChangeFilter[] = [{}, { prefix: 'a' }, { key: 'b1' }, { keys: ['a2', 'c1'] }, { prefix: 'b' }];

/** One stream of one client: what it was told, folded into the records it describes. */
class Stream {
  readonly folded = new Map<string, Json>();
  readonly problems: string[] = [];
  private lastSeq = 0;
  /** Another database was swapped in: the first seq lower than the last is its history starting. */
  private swapped = false;

  constructor(
    readonly table: string,
    readonly filter: ChangeFilter,
  ) {}

  /**
   * A change must start from what the stream said last about its record: else one was lost,
   * repeated or reordered. Compared as JSON values, members in any order: an optimistic value lists
   * a merge's new members in the patch's order, the server's result may list them otherwise.
   */
  take(change: Change): void {
    const known = this.folded.get(change.key);
    if (canonical(known) !== canonical(change.previous)) {
      this.problems.push(`${change.table}/${change.key} seq ${change.seq}: previous ${JSON.stringify(change.previous)}, stream had ${JSON.stringify(known)}`);
    }
    // An optimistic change carries the seq of the state it was shown on, not a commit's: 0 when made
    // just after another history was swapped in, before its first snapshot.
    if (change.seq < this.lastSeq && change.pending !== true) {
      if (this.swapped) this.swapped = false;
      else this.problems.push(`seq ${change.seq} after ${this.lastSeq}`);
    }
    this.lastSeq = change.seq;
    if (change.value === undefined) this.folded.delete(change.key);
    else this.folded.set(change.key, change.value);
  }

  /**
   * Another database was swapped in: its seqs are another history's, which may be lower. Changes
   * of the old one may still arrive before the client hears of it (in flight through the proxy).
   */
  historyChanged(): void {
    this.swapped = true;
  }

  covers(key: string): boolean {
    const { key: one, keys, prefix } = this.filter;
    return (one === undefined || key === one) && (keys === undefined || keys.includes(key)) && (prefix === undefined || key.startsWith(prefix));
  }
}

/** JSON with every object's members sorted: equal for equal values. */
function canonical(value: Json | undefined): string | undefined {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item) ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : 1))) : item,
  );
}

function randomPatch(random: Random, n: number): Json {
  const patch: Record<string, Json> = { n };
  if (random.chance(0.5)) patch['nested'] = random.chance(0.2) ? null : { deep: { x: random.int(5), list: [random.int(3), { y: n }] } };
  if (random.chance(0.3)) patch['tags'] = random.chance(0.3) ? null : [n % 3, 'x'];
  if (random.chance(0.2)) patch['text'] = 'é~/'.repeat(random.int(4));
  return patch;
}

describe('sync convergence: seeded writes from the server and from clients (optimistic or not), with random disconnects', () => {
  let served: Served | undefined;
  let proxy: TcpProxy | undefined;
  let clients: RemoteDatabase[] = [];

  afterEach(async () => {
    await Promise.all(clients.map((remote) => remote.close()));
    clients = [];
    await proxy?.close();
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  /**
   * Stops the server and its database, and serves on the same port either the same database
   * reopened (a restart: clients resume from what it kept) or another one (a swap: another
   * history, which clients must take whole).
   */
  async function replaceServer(how: 'restart' | 'swap', logSize: number, options: ServeOptions<any> = {}, openOptions: OpenOptions = {}): Promise<void> {
    const { dir, server } = served!;
    const port = server.port;
    await server.close();
    await served!.db.close();
    const next = how === 'restart' ? dir : tempDir();
    const db = await open(next, openOptions);
    served = { db, dir: next, server: await serve(db, { ...options, port, logSize }), url: `ws://127.0.0.1:${port}` };
  }

  it(`should leave every replica and every change stream equal to the server, over ${SEEDS} seeds, through drops, restarts and a database swapped in`, async () => {
    let restarts = 0;
    let swaps = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const random = new Random(seed);
      // A small log sometimes, so that some resumes replay and others take what changed since.
      const logSize = random.pick([8, 64, 10_000]);
      served = await startServer({ logSize });
      proxy = await TcpProxy.start(served.server.port);
      const url = `ws://127.0.0.1:${proxy.port}`;
      const streams: { remote: RemoteDatabase; stream: Stream }[] = [];
      // Client 0 shows every write of its own before the server confirms it (optimistic), client 1
      // one write in two, client 2 none: what each shows must end equal to the server all the same.
      for (let c = 0; c < 3; c++) {
        const remote = client(url, { optimistic: c === 0 });
        clients.push(remote);
        for (let s = 0; s < 2; s++) {
          const stream = new Stream(random.pick(TABLES), random.pick(FILTERS));
          remote
            .table(stream.table)
            .changes({ ...stream.filter, initial: true })
            .subscribe((change) => stream.take(change));
          streams.push({ remote, stream });
        }
      }
      const writes: Promise<unknown>[] = [];
      for (let step = 0; step < STEPS; step++) {
        const table = random.pick(TABLES);
        const key = random.pick(KEYS);
        const roll = random.next();
        const writer = roll < 0.5 ? null : random.int(clients.length); // null: the server's database
        const op = random.next();
        let write: Promise<unknown>;
        if (writer === null) {
          const target = served.db.table(table);
          write = op < 0.15 ? target.delete(key) : op < 0.3 ? target.put(key, { n: step }) : target.merge(key, randomPatch(random, step) as never);
        } else {
          const target = clients[writer]!.table(table);
          const options = writer === 1 ? { optimistic: random.chance(0.5) } : undefined;
          write = op < 0.15 ? target.delete(key, options) : op < 0.3 ? target.put(key, { n: step }, options) : target.merge(key, randomPatch(random, step) as never, options);
        }
        writes.push(write.catch(() => undefined)); // a client's write to a database swapped out goes to the one swapped in
        if (random.chance(0.03)) proxy.drop();
        if (random.chance(0.1)) await new Promise((resolve) => setTimeout(resolve, random.int(3)));
        if (random.chance(0.01)) {
          const how = random.chance(0.3) ? 'swap' : 'restart';
          if (how === 'swap') swaps++;
          else restarts++;
          await replaceServer(how, logSize);
          if (how === 'swap') for (const { stream } of streams) stream.historyChanged();
        }
      }
      await Promise.all(writes);

      const server = served.db;
      const expected = (stream: Stream): string => JSON.stringify([...server.table(stream.table).entries()].filter(([key]) => stream.covers(key)));
      const expectedCanonical = (stream: Stream): string =>
        JSON.stringify([...server.table(stream.table).entries()].filter(([key]) => stream.covers(key)).map(([key, value]) => [key, JSON.parse(canonical(value)!)]));
      const replica = (remote: RemoteDatabase, stream: Stream): string => JSON.stringify([...remote.table(stream.table).entries()].filter(([key]) => stream.covers(key)));
      // As JSON values: a stream's last word on a record may be an optimistic value equal to the
      // server's but with a merge's members in the patch's order (a confirmation emits nothing).
      const folded = (stream: Stream): string => JSON.stringify([...stream.folded].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, value]) => [key, JSON.parse(canonical(value)!)]));
      await eventually(
        () => streams.every(({ remote, stream }) => replica(remote, stream) === expected(stream) && folded(stream) === expectedCanonical(stream)),
        `seed ${seed}: every replica to equal the server`,
        10_000,
      ).catch(() => undefined); // the expectations below say what differs

      for (const { remote, stream } of streams) {
        expect(replica(remote, stream)).withContext(`seed ${seed}: ${stream.table} ${JSON.stringify(stream.filter)} replica`).toBe(expected(stream));
        expect(folded(stream)).withContext(`seed ${seed}: folded stream`).toBe(expectedCanonical(stream));
        expect(stream.problems).withContext(`seed ${seed}: stream continuity`).toEqual([]);
      }
      await Promise.all(clients.map((remote) => remote.close()));
      clients = [];
      await proxy.close();
      proxy = undefined;
      await stopServer(served);
      served = undefined;
    }
    console.log(`\n[convergence] ${SEEDS} seeds: ${restarts} server restarts, ${swaps} databases swapped in`);
    expect(restarts).toBeGreaterThan(0);
    expect(swaps).toBeGreaterThan(0);
  }, 180_000);

  it('should leave persisted replicas equal to the server through reloads, offline spells, drops and restarts, each write applied once or, refused, not at all', async () => {
    const PERSIST_SEEDS = 16;
    const PERSIST_STEPS = 250;
    const options: ServeOptions<any> = { authorize: (_principal: unknown, access: Access) => access.action !== 'write' || access.key !== 'c1' }; // c1: refused to clients
    let reloads = 0;
    let restarts = 0;
    for (let seed = 1; seed <= PERSIST_SEEDS; seed++) {
      const random = new Random(1000 + seed);
      served = await startServer(options);
      proxy = await TcpProxy.start(served.server.port);
      const url = `ws://127.0.0.1:${proxy.port}`;
      // Every change the server committed, by the id its client write carried: applied twice would count twice.
      const applied = new Map<string, number>();
      const audit = (): void => {
        served!.db.changes().subscribe(({ value, previous }) => {
          const id = (value as { w?: string } | undefined)?.w;
          if (id !== undefined && id !== (previous as { w?: string } | undefined)?.w) applied.set(id, (applied.get(id) ?? 0) + 1);
        });
      };
      audit();
      const stores = [memoryStore(), memoryStore(), memoryStore()];
      const filters = stores.map(() => [0, 1].map(() => ({ table: random.pick(TABLES), filter: random.pick(FILTERS) })));
      const incarnations: { remote: RemoteDatabase; streams: Stream[] }[] = [];
      /** A client on store `c` (a page loaded, or reloaded), its streams subscribed. */
      const load = (c: number): void => {
        const remote = client(url, { persist: stores[c]!, optimistic: c === 0 });
        clients.push(remote);
        const streams = filters[c]!.map(({ table, filter }) => {
          const stream = new Stream(table, filter);
          remote
            .table(table)
            .changes({ ...filter, initial: true })
            .subscribe((change) => stream.take(change));
          return stream;
        });
        incarnations[c] = { remote, streams };
      };
      stores.forEach((_, c) => load(c));
      const outcomes = new Map<string, 'resolved' | string>();
      /** Whether the server refuses it (a write to c1): then it must never apply. */
      const refused = new Map<string, boolean>();
      const writes: Promise<unknown>[] = [];
      let offlineUntil = -1;
      for (let step = 0; step < PERSIST_STEPS; step++) {
        const table = random.pick(TABLES);
        const key = random.pick(KEYS);
        if (random.chance(0.4)) {
          const target = served.db.table(table);
          writes.push((random.chance(0.15) ? target.delete(key) : target.merge(key, randomPatch(random, step) as never)).catch(() => undefined));
        } else {
          const c = random.int(stores.length);
          const id = `s${seed}-${step}`;
          const value = { ...(randomPatch(random, step) as object), w: id };
          const target = incarnations[c]!.remote.table(table);
          const written = random.chance(0.3) ? target.put(key, value, c === 1 ? { optimistic: random.chance(0.5) } : undefined) : target.merge(key, value as never);
          refused.set(id, key === 'c1');
          writes.push(written.then(() => outcomes.set(id, 'resolved'), (error: { code: string }) => outcomes.set(id, error.code)));
        }
        if (step === offlineUntil) proxy.block(false);
        if (random.chance(0.02) && offlineUntil < step) {
          proxy.block(true); // offline for a while: writes wait in the stores
          proxy.drop();
          offlineUntil = step + 5 + random.int(20);
        }
        if (random.chance(0.03)) proxy.drop();
        if (random.chance(0.03)) {
          const c = random.int(stores.length);
          reloads++;
          await incarnations[c]!.remote.close(); // a reload: what it held is stored before close resolves
          clients.splice(clients.indexOf(incarnations[c]!.remote), 1);
          load(c);
        }
        if (random.chance(0.01)) {
          restarts++;
          await replaceServer('restart', 10_000, options);
          audit();
        }
        if (random.chance(0.1)) await new Promise((resolve) => setTimeout(resolve, random.int(3)));
      }
      proxy.block(false);
      await Promise.race([Promise.all(writes), new Promise((resolve) => setTimeout(resolve, 15_000))]);
      const server = served.db;
      // As JSON values: a record resumed from a store lists the members a patch added in the patch's order.
      const covered = (records: Iterable<[string, Json]>, stream: Stream): string => JSON.stringify([...records].filter(([key]) => stream.covers(key)).map(([key, value]) => [key, JSON.parse(canonical(value)!)]));
      const settled = (): boolean => incarnations.every(({ remote, streams }) => streams.every((stream) => covered(remote.table(stream.table).entries(), stream) === covered(server.table(stream.table).entries(), stream)));
      let pendingLeft = 1;
      await eventually(() => {
        let left = 0;
        for (const { remote } of incarnations) remote.pending$.subscribe((count) => (left += count)).unsubscribe();
        pendingLeft = left;
        return left === 0 && settled();
      }, `seed ${seed}: every persisted replica to equal the server`, 15_000).catch(() => undefined);
      expect(pendingLeft).withContext(`seed ${seed}: optimistic writes still shown`).toBe(0);
      for (const { remote, streams } of incarnations) {
        for (const stream of streams) {
          expect(covered(remote.table(stream.table).entries(), stream)).withContext(`seed ${seed}: ${stream.table} ${JSON.stringify(stream.filter)}`).toBe(covered(server.table(stream.table).entries(), stream));
          expect(stream.problems).withContext(`seed ${seed}: stream continuity`).toEqual([]);
        }
      }
      // A write restored from a store (not optimistic, so not in pending$) may still wait for its
      // answer at the last close: it stays in the store, and the next client on it sends it. Once
      // every such client is closed in turn, the stores hold no write: each was answered.
      await Promise.all(clients.splice(0).map((remote) => remote.close()));
      for (const store of stores) {
        for (let attempt = 0; attempt < 20 && ((await store.load())?.writes.length ?? 0) > 0; attempt++) {
          await store.close();
          const last = client(url, { persist: store });
          await new Promise((resolve) => setTimeout(resolve, 100));
          await last.close();
        }
        await store.close();
      }
      for (const [id, outcome] of outcomes) {
        const count = applied.get(id) ?? 0;
        if (refused.get(id)) expect(`${outcome} ${count}`).withContext(`seed ${seed}: write ${id}, refused`).toMatch(/^(FORBIDDEN|CLIENT_CLOSED) 0$/);
        else if (outcome === 'resolved') expect(count).withContext(`seed ${seed}: write ${id} resolved`).toBe(1);
        // Closed by a reload before its answer: kept in the store, sent by the next client on it.
        else expect(`${outcome} ${count}`).withContext(`seed ${seed}: write ${id}`).toBe('CLIENT_CLOSED 1');
      }
      for (const [id, count] of applied) expect(count).withContext(`seed ${seed}: write ${id} applied`).toBeLessThanOrEqual(1);
      for (const store of stores) {
        const left = await store.load();
        expect(left?.writes.length ?? 0).withContext(`seed ${seed}: writes left in a store`).toBe(0);
        await store.close();
      }
      await proxy.close();
      proxy = undefined;
      await stopServer(served);
      served = undefined;
    }
    console.log(`\n[convergence] ${PERSIST_SEEDS} seeds with persisted replicas: ${reloads} reloads, ${restarts} server restarts`);
    expect(reloads).toBeGreaterThan(10);
    expect(restarts).toBeGreaterThan(0);
  }, 180_000);

  describe('cut at every message of a subscribe exchange', () => {
    // Snapshots of many small pages, subscriptions too large to resubscribe in one message: the
    // exchange is many messages long, and the connection is cut after each of them in turn.
    const CUTS = 14;
    const RECORDS = 300;
    const keyed = (i: number): string => `k${String(i).padStart(3, '0')}`;
    const FILTERS_CUT: ChangeFilter[] = [
      {},
      { prefix: 'k1' },
      { key: keyed(5) },
      { keys: Array.from({ length: 1000 }, (_, i) => keyed(i * 2)) },
      { keys: Array.from({ length: 1000 }, (_, i) => keyed(i * 2 + 1)) },
    ];

    for (const resume of ['the first subscribe', 'a resume by replay', 'a resume by snapshots']) {
      it(`should leave every replica and stream equal to the server, cut after each message of ${resume}`, async () => {
        for (let cut = 1; cut <= CUTS; cut++) {
          const random = new Random(cut);
          served = await startServer({ logSize: resume === 'a resume by snapshots' ? 1 : 10_000, snapshotPageBytes: 512, maxMessageBytes: 16 * 1024 }, { durability: 'memory' });
          const table = served.db.table('t');
          await Promise.all(Array.from({ length: RECORDS }, (_, i) => table.put(keyed(i), { n: i, list: [i] })));
          proxy = await TcpProxy.start(served.server.port);
          const armCut = (): void => {
            let frames = 0;
            proxy!.cutAfter(() => ++frames === cut);
          };
          let writing = true;
          const writer = (async () => {
            for (let n = 0; writing; n++) {
              const key = keyed(random.int(RECORDS + 20));
              const current = table.get(key) as { list?: number[] } | undefined;
              const roll = random.next();
              // Appends are not idempotent: a change applied twice shows.
              if (roll < 0.1) await table.delete(key);
              else if (roll < 0.6) await table.merge(key, { list: [...(current?.list ?? []), n] });
              else await table.merge(key, randomPatch(random, n) as never);
              await new Promise((resolve) => setTimeout(resolve, random.int(3)));
            }
          })();
          if (resume === 'the first subscribe') armCut();
          const remote = client(`ws://127.0.0.1:${proxy.port}`);
          clients.push(remote);
          const streams = FILTERS_CUT.map((filter) => {
            const stream = new Stream('t', filter);
            remote
              .table('t')
              .changes({ ...filter, initial: true })
              .subscribe((change) => stream.take(change));
            return stream;
          });
          await eventually(() => streams.every((stream) => stream.folded.size > 0), `cut ${cut}: every stream live`, 10_000);
          if (resume !== 'the first subscribe') {
            proxy.drop();
            armCut();
          }
          await new Promise((resolve) => setTimeout(resolve, 150));
          writing = false;
          await writer;

          const expected = (stream: Stream): string => JSON.stringify([...table.entries()].filter(([key]) => stream.covers(key)));
          const replica = (stream: Stream): string => JSON.stringify([...remote.table('t').entries()].filter(([key]) => stream.covers(key)));
          const folded = (stream: Stream): string => JSON.stringify([...stream.folded].sort(([a], [b]) => (a < b ? -1 : 1)));
          await eventually(
            () => streams.every((stream) => replica(stream) === expected(stream) && folded(stream) === expected(stream)),
            `cut ${cut}: every replica to equal the server`,
            10_000,
          ).catch(() => undefined); // the expectations below say what differs
          for (const stream of streams) {
            const what = `cut after message ${cut} of ${resume}: ${JSON.stringify(stream.filter).slice(0, 40)}`;
            expect(replica(stream)).withContext(`${what} replica`).toBe(expected(stream));
            expect(folded(stream)).withContext(`${what} folded stream`).toBe(expected(stream));
            expect(stream.problems).withContext(`${what} stream continuity`).toEqual([]);
          }
          await Promise.all(clients.splice(0).map((one) => one.close()));
          await proxy.close();
          proxy = undefined;
          await stopServer(served);
          served = undefined;
        }
      }, 120_000);
    }
  });
});
