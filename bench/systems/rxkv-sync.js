// W6, W7, W11 and W12: rxkv served over WebSocket (`rxkv/server`) to `rxkv/client` replicas.
//
// The server child (`W6`, `W7`, ...) opens the database, serves it, and forks the client children
// (`clients`, through bench/child.js) so that the replicas never share the server's event loop.
// The two talk over the IPC channel of `fork`:
//   clients -> server  { type: 'loaded' }                with `go` (W11): ready to connect
//   server  -> clients { type: 'go' }                    connect now (the accept rate is timed from here)
//   clients -> server  { type: 'ready' }                 every replica is live (initial records in)
//   server  -> clients { type: 'ping', t }               clock check; answered { type: 'pong', t, at }
//   server  -> clients { type: 'drain', targets, published? }  wait until each replica saw its target seq
//   clients -> server  { type: 'drained', ... }          deliveries counted, and W6's samples (or, given
//                                                        the publication times, a latency histogram)
//   server  -> clients { type: 'close' }                 close every replica, leave; RESULT on stdout
// Times are `performance.timeOrigin + performance.now()`: one machine clock in every process.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'rxkv';
import { PROTOCOL_VERSION, serve } from 'rxkv/server';
import { SIZES, acceptFigures, addLatency, histogramFigures, keyOf, memory, operations, percentile, random, record, runWindowed } from '../workload.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'child.js');
const TABLE = 'bench';
/** Replicas subscribed to the whole table; every other one subscribes to KEYS_PER_CLIENT keys. */
const WHOLE_TABLE_CLIENTS = 10;
const KEYS_PER_CLIENT = 4;
/**
 * Replicas a client child has connecting at once (a new one starts as one goes live): a burst of
 * thousands overflows the server's accept queue (its backlog: 511), and the accept time becomes
 * the kernel's SYN retransmission backoff (1 s, 3 s, 7 s, ...) rather than the server's rate.
 */
const CONNECTING = 64;
const READY_TIMEOUT = 60_000;
const DRAIN_TIMEOUT = 120_000;
const EXIT_TIMEOUT = 15_000;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Who subscribes to what: the first WHOLE_TABLE_CLIENTS replicas to the whole table (null), the
 * others to KEYS_PER_CLIENT distinct seeded keys among `keySpace`.
 */
function layout(clients, keySpace, seed) {
  const next = random(seed);
  const subscriptions = [];
  for (let c = 0; c < clients; c++) {
    if (c < Math.min(WHOLE_TABLE_CLIENTS, clients)) {
      subscriptions.push(null);
      continue;
    }
    const keys = new Set();
    while (keys.size < Math.min(KEYS_PER_CLIENT, keySpace)) keys.add(keyOf(Math.floor(next() * keySpace)));
    subscriptions.push([...keys]);
  }
  return subscriptions;
}

/**
 * The server side of W6 and W7: the database with `keys` records written beforehand (so that
 * every replica can tell it is live from its initial records), served on loopback, and a feed that
 * records, for every published change, its publication time (by seq), the last seq of its key
 * and how many replicas should receive it. Subscribed before `serve`, so it runs before routing.
 * Not served with `served: false`. `sent()`: the bytes the server's sockets have written so far
 * (counted only with `countBytes`).
 */
async function setUp(dir, subscriptions, keys, { served = true, inspector = false, perMessageDeflate = false, countBytes = false } = {}) {
  const db = await open(dir);
  const table = db.table(TABLE);
  await db.transaction((tx) => {
    const t = tx.table(TABLE);
    for (const key of keys) t.put(key, record(Number(key.slice(1))));
  });
  const whole = subscriptions.filter((keys) => keys === null).length;
  const coverage = new Map();
  for (const keys of subscriptions) for (const key of keys ?? []) coverage.set(key, (coverage.get(key) ?? 0) + 1);
  const feed = { measuring: false, published: new Map(), lastSeq: new Map(), seq: 0, commits: 0, expected: 0, recordTimes: false };
  const subscription = db.changes().subscribe((change) => {
    if (!feed.measuring) return;
    if (change.seq !== feed.seq) {
      feed.commits++;
      if (feed.recordTimes) feed.published.set(change.seq, now());
    }
    feed.lastSeq.set(change.key, change.seq);
    feed.seq = change.seq;
    feed.expected += whole + (coverage.get(change.key) ?? 0);
  });
  const http = served ? await listening(0) : null;
  const sockets = [];
  if (countBytes) http?.on('connection', (socket) => sockets.push(socket));
  const sent = () => sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0);
  const server = served ? await serve(db, { server: http, perMessageDeflate, ...(inspector ? { inspector: true, authorize: () => true } : {}) }) : null;
  return { db, table, http, server, feed, subscription, sent };
}

async function tearDown({ db, http, server, subscription }) {
  await server?.close();
  if (http !== null) await new Promise((resolve) => http.close(resolve));
  subscription.unsubscribe();
  await db.close();
}

/** Forks the client children, spreading the replicas over `procs` processes. */
function startClients(port, subscriptions, { records, recordSamples = false, reconnect, procs = SIZES.SYNC_PROCS, go = false, parseOnly = false }) {
  const count = Math.max(1, Math.min(procs, subscriptions.length));
  const groups = Array.from({ length: count }, () => []);
  subscriptions.forEach((keys, c) => groups[c % count].push(c));
  return groups.map((members) => {
    const args = { port, records, recordSamples, reconnect, go, clients: members.map((c) => ({ id: c, keys: subscriptions[c] })) };
    const proc = fork(CHILD, ['rxkv-sync', parseOnly ? 'parsingClients' : 'clients', JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let stdout = '';
    proc.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal, stdout })));
    return { proc, members, exited, waiting: null };
  });
}

/** The next IPC message of `type` from a client child; rejects on its exit or after `timeout`. */
function receive(child, type, timeout) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.proc.off('message', onMessage);
      child.proc.off('exit', onExit);
    };
    const onMessage = (message) => {
      if (message.type !== type) return;
      done();
      resolve(message);
    };
    const onExit = (code) => {
      done();
      reject(new Error(`a client child exited (code ${code}) while the server waited for '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no '${type}' from a client child within ${timeout} ms`));
    }, timeout);
    child.proc.on('message', onMessage);
    child.proc.on('exit', onExit);
  });
}

/**
 * Estimates each client child's clock offset against this process (its time minus ours) from
 * IPC round trips, keeping the one with the shortest round trip: the cross-process times of W6
 * are only as good as this offset is small.
 */
async function clockOffset(child) {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 20; i++) {
    const sent = now();
    child.proc.send({ type: 'ping', t: sent });
    const { at } = await receive(child, 'pong', 5_000);
    const back = now();
    if (back - sent < best.rtt) best = { rtt: back - sent, offset: at - (sent + back) / 2 };
  }
  return best;
}

/**
 * Sends each client child the seq each of its replicas must reach, and waits for them all. With
 * `published`, the children answer with a histogram of their latencies instead of the samples.
 */
async function drain(children, subscriptions, feed, published = null) {
  const target = (keys) => (keys === null ? feed.seq : Math.max(0, ...keys.map((key) => feed.lastSeq.get(key) ?? 0)));
  const times = published === null ? undefined : [...published].flat();
  return Promise.all(
    children.map((child) => {
      const replies = receive(child, 'drained', DRAIN_TIMEOUT);
      child.proc.send({ type: 'drain', targets: child.members.map((c) => target(subscriptions[c])), published: times });
      return replies;
    }),
  );
}

/** Asks every client child to close its replicas and waits for it to exit by itself. */
async function stopClients(children) {
  for (const child of children) if (child.proc.connected) child.proc.send({ type: 'close' });
  const results = [];
  for (const child of children) {
    let timer;
    const exit = await Promise.race([child.exited, new Promise((resolve) => (timer = setTimeout(() => resolve(null), EXIT_TIMEOUT)))]);
    clearTimeout(timer);
    if (exit === null) {
      child.proc.kill('SIGKILL');
      throw new Error(`a client child did not exit within ${EXIT_TIMEOUT} ms of 'close'`);
    }
    const line = exit.stdout.split('\n').find((text) => text.startsWith('RESULT '));
    if (exit.code !== 0 || line === undefined) throw new Error(`a client child failed (exit code ${exit.code}, signal ${exit.signal})`);
    results.push(JSON.parse(line.slice(7)));
  }
  return results;
}

/**
 * Starts the client children and waits until every replica is live; kills them if that fails.
 * With `go`, the children connect only once all of them are loaded, and `acceptMs` is the time
 * from that signal to every replica live (`acceptCpuMicros`, this process's CPU meanwhile).
 */
async function connectClients(server, subscriptions, { others = 0, ...options }) {
  const children = startClients(server.port, subscriptions, options);
  try {
    let acceptMs = null;
    let acceptCpuMicros = null;
    if (options.go) {
      await Promise.all(children.map((child) => receive(child, 'loaded', READY_TIMEOUT)));
      const readies = children.map((child) => receive(child, 'ready', READY_TIMEOUT));
      const cpu = process.cpuUsage();
      const go = performance.now();
      for (const child of children) child.proc.send({ type: 'go' });
      await Promise.all(readies);
      acceptMs = performance.now() - go;
      acceptCpuMicros = ((used) => used.user + used.system)(process.cpuUsage(cpu));
    } else {
      await Promise.all(children.map((child) => receive(child, 'ready', READY_TIMEOUT)));
    }
    if (server.connections !== subscriptions.length + others) throw new Error(`${server.connections} of ${subscriptions.length} clients connected`);
    const offsets = [];
    for (const child of children) offsets.push(await clockOffset(child));
    return { children, offsets, acceptMs, acceptCpuMicros };
  } catch (error) {
    for (const child of children) child.proc.kill('SIGKILL');
    throw error;
  }
}

function totals(drained, feed, children) {
  const deliveries = drained.reduce((sum, reply) => sum + reply.deliveries, 0);
  const reconnects = drained.reduce((sum, reply) => sum + reply.reconnects, 0);
  const cpuMicros = drained.reduce((sum, reply) => sum + reply.cpuMicros, 0);
  return { clientCpuMicrosPerDelivery: deliveries === 0 ? null : cpuMicros / deliveries, deliveries, expectedDeliveries: feed.expected, reconnects, clientProcesses: children.length };
}

/**
 * W6: propagation from commit to delivery. One merge every W6_INTERVAL_MS (each awaited, then the
 * next one waits for its slot) over W6_KEYS keys; each delivery's latency is the replica's time
 * of receipt minus the moment the server published the commit.
 */
export async function W6({ dir }) {
  const subscriptions = layout(SIZES.SYNC_CLIENTS, SIZES.W6_KEYS, 6);
  const keys = Array.from({ length: SIZES.W6_KEYS }, (_, i) => keyOf(i));
  const setup = await setUp(dir, subscriptions, keys);
  const { table, server, feed } = setup;
  const { children, offsets } = await connectClients(server, subscriptions, { records: keys.length, recordSamples: true });
  let drained;
  try {
    const ops = operations(SIZES.W6_MERGES, SIZES.W6_KEYS, 6);
    feed.measuring = true;
    feed.recordTimes = true;
    const start = performance.now();
    for (let i = 0; i < SIZES.W6_MERGES; i++) {
      await table.merge(ops.keys[i], ops.patches[i]);
      const wait = start + (i + 1) * SIZES.W6_INTERVAL_MS - performance.now();
      if (wait > 0) await sleep(wait);
    }
    feed.measuring = false;
    drained = await drain(children, subscriptions, feed);
  } catch (error) {
    for (const child of children) child.proc.kill('SIGKILL');
    throw error;
  }
  await stopClients(children);
  await tearDown(setup);

  const latencies = [];
  for (const { samples } of drained) {
    for (let i = 0; i < samples.length; i += 2) {
      const published = feed.published.get(samples[i]);
      if (published === undefined) throw new Error(`W6: a replica received seq ${samples[i]}, never published while measuring`);
      latencies.push(samples[i + 1] - published);
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? 0,
    minMs: latencies[0] ?? 0,
    samples: latencies.length,
    commits: feed.published.size,
    clockOffsetMs: Math.max(...offsets.map(({ offset }) => Math.abs(offset))),
    ...totals(drained, feed, children),
  };
}

/**
 * W7: W7_OPS durable merges issued by the server process on its own database, up to W1_WINDOW in
 * flight (as W1p), with SYNC_CLIENTS replicas subscribed (`clients: true`) or none. With clients,
 * the run goes on until every replica received everything it subscribed to: the figure is the
 * merges' own rate (last one durable), the drained rate is reported beside it. With `served:
 * false` (W7b's baseline), the same database and merges without a server at all. With
 * `inspector: true` (W7i), the inspector page is open in headless Chromium on the change stream of
 * the whole database all along. With `perMessageDeflate: true` (W7z), the server compresses.
 */
export async function W7({ dir, clients, served = true, inspector = false, parseOnly = false, perMessageDeflate = false }) {
  const subscriptions = layout(SIZES.SYNC_CLIENTS, SIZES.W1_KEYS, 7);
  const keys = [...new Set([keyOf(0), ...subscriptions.flatMap((keys) => keys ?? [])])].sort();
  const setup = await setUp(dir, clients ? subscriptions : [], keys, { served, inspector, perMessageDeflate, countBytes: clients });
  const { table, server, feed } = setup;
  const page = inspector ? await openInspector(server.port) : null;
  const connected = clients ? await connectClients(server, subscriptions, { records: keys.length, others: page === null ? 0 : 1, parseOnly }) : { children: [], offsets: [] };
  const { children } = connected;
  let seconds;
  let drainedSeconds = null;
  let drained = [];
  let usage;
  let bytesSent;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  try {
    const ops = operations(SIZES.W7_OPS, SIZES.W1_KEYS, 7);
    const sentBefore = setup.sent();
    feed.measuring = true;
    delay.enable();
    const cpu = process.cpuUsage();
    const loop = performance.eventLoopUtilization();
    const start = performance.now();
    await runWindowed(SIZES.W7_OPS, SIZES.W1_WINDOW, (i) => table.merge(ops.keys[i], ops.patches[i]));
    seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    usage = {
      cpuMicrosPerOp: (used.user + used.system) / SIZES.W7_OPS,
      loopUtilization: performance.eventLoopUtilization(loop).utilization,
      commits: feed.commits,
    };
    feed.measuring = false;
    if (clients) {
      drained = await drain(children, subscriptions, feed);
      drainedSeconds = (performance.now() - start) / 1000;
    }
    bytesSent = setup.sent() - sentBefore;
    delay.disable();
  } catch (error) {
    for (const child of children) child.proc.kill('SIGKILL');
    throw error;
  }
  if (clients) await stopClients(children);
  const inspected = await page?.close();
  await tearDown(setup);
  return {
    ...(inspected === undefined ? {} : { inspector: inspected }),
    opsPerSec: SIZES.W7_OPS / seconds,
    drainedOpsPerSec: drainedSeconds === null ? null : SIZES.W7_OPS / drainedSeconds,
    loopP99Ms: delay.percentile(99) / 1e6,
    ...usage,
    ...(clients ? totals(drained, feed, children) : {}),
    // What the server's sockets wrote from the first merge until the replicas were drained.
    bytesSent,
  };
}

/**
 * The inspector page in headless Chromium on the change stream of every table, once that stream
 * is subscribed. `close()` resolves to the newest seq the page showed.
 */
async function openInspector(port) {
  const { default: puppeteer } = await import('puppeteer-core');
  const { ensureChromium } = await import('../../scripts/chromium.js');
  const browser = await puppeteer.launch({ executablePath: ensureChromium(), headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/inspector/#changes`, { waitUntil: 'load' });
  await page.waitForSelector('#pause');
  await sleep(3000); // its change stream is subscribed, and the browser done starting
  return {
    async close() {
      await sleep(500);
      const shown = await page.evaluate(() => Number(document.querySelector('#changes > li')?.dataset.seq ?? 0));
      await browser.close();
      return { lastSeqShown: shown };
    },
  };
}

/**
 * A client child: one `connect` per replica, each subscribed with `changes({ keys })` or (whole
 * table) `changes()`, both with `initial: true`; live once the initial records are in. With `go`,
 * it connects only when told to. Answers the server's messages (see the top of this file), then
 * closes every replica and returns.
 */
export async function clients({ port, records, recordSamples, reconnect, go, clients: members }) {
  const { connect } = await import('rxkv/client');
  let closing = false;
  // If the server child dies, leave rather than linger with open sockets.
  process.on('disconnect', () => {
    if (!closing) process.exit(1);
  });
  if (go) {
    const told = new Promise((resolve) => process.once('message', resolve));
    process.send({ type: 'loaded' });
    await told;
  }
  let measuring = false;
  let notReady = members.length;
  let undrained = 0;
  let drainReply = null;
  const samples = recordSamples ? [] : null;
  const replicas = new Array(members.length);
  let started = 0;
  const start = () => {
    const { id, keys } = members[started];
    const remote = connect(`ws://127.0.0.1:${port}`, reconnect === undefined ? {} : { reconnect });
    const replica = { id, remote, initial: 0, need: keys === null ? records : keys.length, deliveries: 0, maxSeq: 0, target: Infinity, reconnects: 0 };
    let wasOpen = false;
    remote.status$.subscribe(({ state }) => {
      if (state === 'open') wasOpen = true;
      else if (state === 'connecting' && wasOpen) replica.reconnects++;
    });
    const filter = keys === null ? { initial: true } : { keys, initial: true };
    replica.subscription = remote
      .table(TABLE)
      .changes(filter)
      .subscribe({
        next: (change) => {
          if (!measuring) {
            if (++replica.initial !== replica.need) return;
            if (started < members.length) start();
            if (--notReady === 0) ready();
            return;
          }
          const at = now();
          replica.deliveries++;
          if (samples !== null) samples.push(change.seq, at);
          if (change.seq > replica.maxSeq) {
            const before = replica.maxSeq;
            replica.maxSeq = change.seq;
            if (before < replica.target && change.seq >= replica.target && --undrained === 0) finish();
          }
        },
        error: (error) => {
          process.stderr.write(`[clients] replica ${id}: ${error.message}\n`);
          process.exit(1);
        },
      });
    replicas[started++] = replica;
  };
  while (started < Math.min(CONNECTING, members.length)) start();
  let cpu;
  /** The histogram of each sample's receipt time minus its publication (`published`: seq, time, seq, ...). */
  const latencies = (published) => {
    const times = new Map();
    for (let i = 0; i < published.length; i += 2) times.set(published[i], published[i + 1]);
    const histogram = new Map();
    for (let i = 0; i < samples.length; i += 2) {
      const time = times.get(samples[i]);
      if (time === undefined) throw new Error(`a replica received seq ${samples[i]}, never published while measuring`);
      addLatency(histogram, samples[i + 1] - time);
    }
    return [...histogram];
  };
  const ready = () => {
    measuring = true;
    cpu = process.cpuUsage();
    process.send({ type: 'ready' });
  };
  const finish = () => {
    const reply = drainReply;
    drainReply = null;
    reply?.();
  };

  await new Promise((resolve) => {
    process.on('message', (message) => {
      switch (message.type) {
        case 'ping':
          process.send({ type: 'pong', t: message.t, at: now() });
          return;
        case 'drain':
          undrained = 0;
          replicas.forEach((replica, i) => {
            replica.target = message.targets[i];
            if (replica.maxSeq < replica.target) undrained++;
          });
          drainReply = () =>
            process.send({
              type: 'drained',
              deliveries: replicas.reduce((sum, r) => sum + r.deliveries, 0),
              reconnects: replicas.reduce((sum, r) => sum + r.reconnects, 0),
              cpuMicros: ((used) => used.user + used.system)(process.cpuUsage(cpu)),
              ...(message.published === undefined ? { samples: samples ?? [] } : { latencies: latencies(message.published) }),
            });
          if (undrained === 0) finish();
          return;
        case 'resume': {
          // Every replica connected again and shows the database as of `target` (or later).
          const check = setInterval(() => {
            if (replicas.every(({ remote }) => remote.status.state === 'open' && remote.seq >= message.target)) {
              clearInterval(check);
              process.send({ type: 'resumed' });
            }
          }, 1);
          return;
        }
        case 'close':
          closing = true;
          resolve();
          return;
      }
    });
  });
  for (const replica of replicas) replica.subscription.unsubscribe();
  await Promise.all(replicas.map((replica) => replica.remote.close()));
  process.removeAllListeners('message');
  process.disconnect();
  return { replicas: replicas.length, deliveries: replicas.reduce((sum, r) => sum + r.deliveries, 0) };
}

/**
 * W7p's client children: the same sockets, subscriptions and drain as `clients`, but no replica.
 * Each socket speaks the sync protocol by hand (hello, one subscribe) and only parses what comes,
 * counting the changes: what any replica must pay at least, so that W7 with these measures what
 * rxkv's server can reach here with the cheapest replicas possible.
 */
export async function parsingClients({ port, records, clients: members }) {
  const { WebSocket } = await import('ws');
  // If the server child dies, leave rather than linger with open sockets.
  const orphaned = () => process.exit(1);
  process.on('disconnect', orphaned);
  let undrained = null;
  let cpu;
  const replicas = members.map(({ keys }) => ({ keys, deliveries: 0, maxSeq: 0, target: Infinity }));
  const done = () =>
    process.send({ type: 'drained', deliveries: replicas.reduce((sum, r) => sum + r.deliveries, 0), reconnects: 0, cpuMicros: ((used) => used.user + used.system)(process.cpuUsage(cpu)), samples: [] });
  const sockets = new Array(replicas.length);
  await new Promise((resolve, reject) => {
    let started = 0;
    let live = 0;
    const start = () => {
      const replica = replicas[started];
      const socket = (sockets[started++] = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false }));
      let initial = 0;
      socket.once('open', () => socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION })));
      socket.once('error', reject);
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString());
        switch (message.type) {
          case 'welcome':
            socket.send(JSON.stringify({ type: 'subscribe', id: 1, subs: [{ sub: 1, table: TABLE, ...(replica.keys === null ? {} : { keys: replica.keys }) }] }));
            return;
          case 'snapshot':
            initial += message.records.length;
            return;
          case 'subscribed':
            if (initial !== (replica.keys === null ? records : replica.keys.length)) reject(new Error(`a replica got ${initial} initial records`));
            if (started < replicas.length) start();
            if (++live === replicas.length) resolve();
            return;
          case 'changes': {
            const { changes } = message;
            replica.deliveries += changes.length;
            const before = replica.maxSeq;
            replica.maxSeq = changes[changes.length - 1].seq;
            if (undrained !== null && before < replica.target && replica.maxSeq >= replica.target && --undrained === 0) done();
            return;
          }
          case 'error':
            reject(new Error(`the server refused: ${message.code} ${message.message}`));
        }
      });
    };
    while (started < Math.min(CONNECTING, replicas.length)) start();
  });
  cpu = process.cpuUsage();
  await new Promise((resolve) => {
    process.on('message', (message) => {
      switch (message.type) {
        case 'ping':
          process.send({ type: 'pong', t: message.t, at: now() });
          return;
        case 'drain':
          replicas.forEach((replica, i) => (replica.target = message.targets[i]));
          undrained = replicas.filter((replica) => replica.maxSeq < replica.target).length;
          if (undrained === 0) done();
          return;
        case 'close':
          resolve();
      }
    });
    process.send({ type: 'ready' });
  });
  for (const socket of sockets) socket.terminate();
  process.removeAllListeners('message');
  process.off('disconnect', orphaned);
  process.disconnect();
  return { replicas: replicas.length, deliveries: replicas.reduce((sum, r) => sum + r.deliveries, 0) };
}

/**
 * W7r: SYNC_CLIENTS replicas of a table of W7R_RECORDS records, the server restarted with
 * W7R_CHANGES changes made while it was down (merges, and one delete). The figures: the time from
 * the new server's start until every replica shows the database again, and the bytes the new
 * server sent. With `snapshots`, the database keeps no deletes (`keepDeletes: { maxBytes: 0 }`):
 * the delete cannot be told apart, and every replica takes its snapshot again (the baseline).
 */
export async function W7r({ dir, snapshots }) {
  const subscriptions = layout(SIZES.SYNC_CLIENTS, SIZES.W7R_RECORDS, 8);
  const options = snapshots ? { keepDeletes: { maxBytes: 0 } } : {};
  let db = await open(dir, options);
  for (let from = 0; from < SIZES.W7R_RECORDS; from += 5000) {
    await db.transaction((tx) => {
      for (let i = from; i < Math.min(SIZES.W7R_RECORDS, from + 5000); i++) tx.table(TABLE).put(keyOf(i), record(i));
    });
  }
  let http = await listening(0);
  const port = http.address().port;
  let server = await serve(db, { server: http });
  const { children } = await connectClients(server, subscriptions, { records: SIZES.W7R_RECORDS, reconnect: { minDelay: 5, maxDelay: 50 } });
  let result;
  try {
    await server.close();
    await new Promise((resolve) => http.close(resolve));
    await db.close();
    db = await open(dir, options);
    const ops = operations(SIZES.W7R_CHANGES, SIZES.W7R_RECORDS, 8);
    for (let i = 0; i < SIZES.W7R_CHANGES; i++) await db.table(TABLE).merge(ops.keys[i], ops.patches[i]);
    await db.table(TABLE).delete(keyOf(SIZES.W7R_RECORDS - 1));
    http = await listening(port);
    const sockets = new Set();
    http.on('connection', (socket) => sockets.add(socket));
    const start = performance.now();
    server = await serve(db, { server: http });
    await Promise.all(
      children.map((child) => {
        const resumed = receive(child, 'resumed', DRAIN_TIMEOUT);
        child.proc.send({ type: 'resume', target: db.seq });
        return resumed;
      }),
    );
    const ms = performance.now() - start;
    let bytes = 0;
    for (const socket of sockets) bytes += socket.bytesWritten;
    result = { ms, bytes, bytesPerClient: bytes / subscriptions.length };
  } catch (error) {
    for (const child of children) child.proc.kill('SIGKILL');
    throw error;
  }
  await stopClients(children);
  await server.close();
  await new Promise((resolve) => http.close(resolve));
  await db.close();
  return result;
}

/**
 * W11: W11_CLIENTS replicas over W11_PROCS client children, each subscribed to a key of its own,
 * then W11_MERGES merges to random keys among them, one every W11_INTERVAL_MS (each awaited, then
 * the next waits for its slot, as W6). The figures: the server's heap and rss per connection (all
 * replicas live, against the same server before any connection), the accept rate (from 'go' to
 * every replica live), and each delivery's latency from the commit's publication.
 */
export async function W11({ dir }) {
  const subscriptions = Array.from({ length: SIZES.W11_CLIENTS }, (_, c) => [keyOf(c)]);
  const keys = subscriptions.map(([key]) => key);
  const setup = await setUp(dir, subscriptions, keys);
  const { table, server, feed } = setup;
  const idle = await memory();
  const { children, offsets, acceptMs, acceptCpuMicros } = await connectClients(server, subscriptions, { records: keys.length, recordSamples: true, procs: SIZES.W11_PROCS, go: true });
  const live = await memory();
  let drained;
  let cpuMicros;
  try {
    const ops = operations(SIZES.W11_MERGES, keys.length, 11);
    feed.measuring = true;
    feed.recordTimes = true;
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < SIZES.W11_MERGES; i++) {
      await table.merge(ops.keys[i], ops.patches[i]);
      const wait = start + (i + 1) * SIZES.W11_INTERVAL_MS - performance.now();
      if (wait > 0) await sleep(wait);
    }
    cpuMicros = ((used) => used.user + used.system)(process.cpuUsage(cpu));
    feed.measuring = false;
    drained = await drain(children, subscriptions, feed, feed.published);
  } catch (error) {
    for (const child of children) child.proc.kill('SIGKILL');
    throw error;
  }
  await stopClients(children);
  await tearDown(setup);
  return {
    ...acceptFigures({ idle, live, connections: subscriptions.length, acceptMs, acceptCpuMicros }),
    ...histogramFigures(drained.map((reply) => reply.latencies)),
    serverCpuMicrosPerMerge: cpuMicros / SIZES.W11_MERGES,
    clockOffsetMs: Math.max(...offsets.map(({ offset }) => Math.abs(offset))),
    ...totals(drained, feed, children),
  };
}

/**
 * W12: one hot key, W12_CLIENTS replicas over W12_PROCS client children subscribed to it, and
 * W12_MERGES merges to it, one every W12_INTERVAL_MS. They are issued on that schedule without
 * awaiting each (every wake issues each merge whose slot has come), so the rate holds while a
 * commit takes longer than a slot; then all are awaited, and the replicas drained.
 */
export async function W12({ dir }) {
  const hot = keyOf(0);
  const subscriptions = Array.from({ length: SIZES.W12_CLIENTS }, () => [hot]);
  const setup = await setUp(dir, subscriptions, [hot]);
  const { table, server, feed } = setup;
  const { children, offsets } = await connectClients(server, subscriptions, { records: 1, recordSamples: true, procs: SIZES.W12_PROCS });
  let drained;
  let timing;
  try {
    const ops = operations(SIZES.W12_MERGES, 1, 12);
    feed.measuring = true;
    feed.recordTimes = true;
    const cpu = process.cpuUsage();
    const start = performance.now();
    const pending = [];
    let failure = null;
    for (let i = 0; i < SIZES.W12_MERGES; ) {
      const due = Math.min(SIZES.W12_MERGES, Math.floor((performance.now() - start) / SIZES.W12_INTERVAL_MS) + 1);
      for (; i < due; i++) pending.push(table.merge(ops.keys[i], ops.patches[i]).catch((error) => (failure ??= error)));
      if (i < SIZES.W12_MERGES) await sleep(start + i * SIZES.W12_INTERVAL_MS - performance.now());
    }
    await Promise.all(pending);
    if (failure !== null) throw failure;
    const committed = performance.now();
    feed.measuring = false;
    drained = await drain(children, subscriptions, feed, feed.published);
    const used = process.cpuUsage(cpu);
    timing = { mergesPerSec: SIZES.W12_MERGES / ((committed - start) / 1000), drainedSeconds: (performance.now() - start) / 1000, cpuMicros: used.user + used.system };
  } catch (error) {
    for (const child of children) child.proc.kill('SIGKILL');
    throw error;
  }
  await stopClients(children);
  await tearDown(setup);
  const counted = totals(drained, feed, children);
  return {
    ...histogramFigures(drained.map((reply) => reply.latencies)),
    mergesPerSec: timing.mergesPerSec,
    drainedSeconds: timing.drainedSeconds,
    // The server process's CPU from the first merge until every replica had the last one.
    serverCpuMicrosPerDelivery: timing.cpuMicros / counted.deliveries,
    clockOffsetMs: Math.max(...offsets.map(({ offset }) => Math.abs(offset))),
    ...counted,
  };
}

function listening(port) {
  const http = createServer();
  return new Promise((resolve) => http.listen(port, '127.0.0.1', () => resolve(http)));
}
