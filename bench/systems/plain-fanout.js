// The physical limit of fan-out here, for W7, W11 and W12: the same changes, serialized once,
// broadcast over plain `ws` to the same replicas (same subscriptions, same client processes), one
// message per socket per event-loop turn. No rxkv on either end: the replicas only parse what they
// receive. Each socket says which keys it wants; the server answers `live` with their records.
// The server child (`W7`, ...) forks the client children (`clients`) as rxkv-sync does; they talk
// over IPC: clients -> { loaded } (with `go`, W11) and server -> { go }; clients -> { ready } once
// every socket is live; server -> { drain, targets }; clients -> { drained } once each replica got
// its last change; server -> { close }. W11's and W12's messages carry their publication time
// `at` (`performance.timeOrigin + performance.now()`), so the replicas time each change.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { SIZES, acceptFigures, addLatency, histogramFigures, keyOf, memory, operations, random, record } from '../workload.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'child.js');
const WHOLE_TABLE_CLIENTS = 10;
const KEYS_PER_CLIENT = 4;
/** Changes made ready per event-loop turn: what one group commit of W7 publishes at most. */
const PER_TURN = 512;
/** A socket holding more than this waits, as rxkv's outbox does (its maxBufferedBytes). */
const MAX_BUFFERED = 4 << 20;
/** Sockets a client child has connecting at once (see rxkv-sync's CONNECTING: the same). */
const CONNECTING = 64;
const TIMEOUT = 120_000;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same subscription layout as rxkv-sync's W7 (same seed). */
function layout(clients, keySpace, seed) {
  const next = random(seed);
  return Array.from({ length: clients }, (_, c) => {
    if (c < Math.min(WHOLE_TABLE_CLIENTS, clients)) return null;
    const keys = new Set();
    while (keys.size < Math.min(KEYS_PER_CLIENT, keySpace)) keys.add(keyOf(Math.floor(next() * keySpace)));
    return [...keys];
  });
}

function receive(proc, type) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      proc.off('message', onMessage);
      proc.off('exit', onExit);
    };
    const onMessage = (message) => {
      if (message.type !== type) return;
      done();
      resolve(message);
    };
    const onExit = (code) => {
      done();
      reject(new Error(`a client child exited (${code}) before '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no '${type}' from a client child within ${TIMEOUT} ms`));
    }, TIMEOUT);
    proc.on('message', onMessage);
    proc.on('exit', onExit);
  });
}

/**
 * The server: each socket's first message names its keys (null: the whole table); it is answered
 * `live`, with the records of those keys when `records`. `sockets` in order of arrival, `byKey`
 * the sockets of each key.
 */
async function listen(records) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const sockets = [];
  const byKey = new Map();
  wss.on('connection', (socket) =>
    socket.once('message', (data) => {
      const { keys } = JSON.parse(data.toString());
      sockets.push({ socket, keys });
      for (const key of keys ?? []) {
        if (!byKey.has(key)) byKey.set(key, []);
        byKey.get(key).push(socket);
      }
      const values = records && keys !== null ? keys.map((key) => `{"key":"${key}","value":${JSON.stringify(record(Number(key.slice(1))))}}`) : [];
      socket.send(`{"type":"live","records":[${values.join(',')}]}`);
    }),
  );
  const close = async () => {
    for (const { socket } of sockets) socket.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  };
  return { port: http.address().port, sockets, byKey, close };
}

/**
 * Forks the client children (replica c in child c % procs, as rxkv-sync) and waits until every
 * socket is live. With `go`, they connect only once all are loaded; `acceptMs` is the time from
 * that signal to every socket live (`acceptCpuMicros`, this process's CPU meanwhile).
 */
async function connectClients(port, subscriptions, procs, go = false) {
  const count = Math.max(1, Math.min(procs, subscriptions.length));
  const groups = Array.from({ length: count }, () => []);
  subscriptions.forEach((keys, c) => groups[c % count].push(c));
  const children = groups.map((members) => {
    const args = { port, go, subscriptions: members.map((c) => subscriptions[c]) };
    const proc = fork(CHILD, ['plain-fanout', 'clients', JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    const child = { proc, members, stdout: '' };
    proc.stdout.setEncoding('utf8').on('data', (text) => (child.stdout += text));
    child.exited = new Promise((resolve) => proc.once('exit', resolve));
    return child;
  });
  try {
    let acceptMs = null;
    let acceptCpuMicros = null;
    if (go) {
      await Promise.all(children.map(({ proc }) => receive(proc, 'loaded')));
      const readies = children.map(({ proc }) => receive(proc, 'ready'));
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (const { proc } of children) proc.send({ type: 'go' });
      await Promise.all(readies);
      acceptMs = performance.now() - start;
      acceptCpuMicros = ((used) => used.user + used.system)(process.cpuUsage(cpu));
    } else {
      await Promise.all(children.map(({ proc }) => receive(proc, 'ready')));
    }
    return { children, acceptMs, acceptCpuMicros };
  } catch (error) {
    for (const { proc } of children) proc.kill('SIGKILL');
    throw error;
  }
}

/** Sends each child the seq each of its replicas must reach (by subscription); resolves to their replies. */
function drain(children, subscriptions, lastSeq, total) {
  const target = (keys) => (keys === null ? total : Math.max(0, ...keys.map((key) => lastSeq.get(key) ?? 0)));
  return Promise.all(
    children.map(({ proc, members }) => {
      const drained = receive(proc, 'drained');
      proc.send({ type: 'drain', targets: members.map((c) => target(subscriptions[c])) });
      return drained;
    }),
  );
}

async function stopClients(children) {
  for (const { proc } of children) proc.send({ type: 'close' });
  for (const child of children) {
    await child.exited;
    if (!child.stdout.includes('RESULT ')) throw new Error('a client child gave no result');
  }
}

function totals(drained) {
  const deliveries = drained.reduce((sum, reply) => sum + reply.deliveries, 0);
  const cpuMicros = drained.reduce((sum, reply) => sum + reply.cpuMicros, 0);
  return { deliveries, clientCpuMicrosPerDelivery: cpuMicros / deliveries };
}

/** The change of each operation as rxkv serializes it: serialized once, before any clock starts. */
function changeJsons({ keys, patches }) {
  const ts = Date.now();
  return keys.map((key, i) => {
    const [member, field] = 'profile' in patches[i] ? ['profile', 'age'] : ['counters', 'a'];
    return { key, json: JSON.stringify({ table: 'bench', key, op: 'merge', seq: i + 1, ts, patch: [{ op: 'replace', path: `/${member}/${field}`, value: i }] }) };
  });
}

const lastSeqs = (changes) => new Map(changes.map(({ key }, i) => [key, i + 1]));

export async function W7() {
  const subscriptions = layout(SIZES.SYNC_CLIENTS, SIZES.W1_KEYS, 7);
  const changes = changeJsons(operations(SIZES.W7_OPS, SIZES.W1_KEYS, 7));
  const server = await listen(false);
  const { children } = await connectClients(server.port, subscriptions, SIZES.SYNC_PROCS);
  const drained = drain(children, subscriptions, lastSeqs(changes), changes.length);
  const sockets = server.sockets;

  const start = performance.now();
  const cpu = process.cpuUsage();
  const keySets = sockets.map(({ keys }) => (keys === null ? null : new Set(keys)));
  for (let from = 0; from < changes.length; from += PER_TURN) {
    const turn = changes.slice(from, from + PER_TURN);
    // One message per socket per turn; the whole-table one built once for all of them.
    const whole = `{"type":"changes","changes":[${turn.map(({ json }) => json).join(',')}]}`;
    for (let s = 0; s < sockets.length; s++) {
      const wanted = keySets[s];
      const mine = wanted === null ? null : turn.filter(({ key }) => wanted.has(key));
      if (mine !== null && mine.length === 0) continue;
      sockets[s].socket.send(mine === null ? whole : `{"type":"changes","changes":[${mine.map(({ json }) => json).join(',')}]}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
    while (sockets.some(({ socket }) => socket.bufferedAmount > MAX_BUFFERED)) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const sent = performance.now();
  const replies = await drained;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await stopClients(children);
  await server.close();
  return {
    drainedOpsPerSec: changes.length / seconds,
    sentOpsPerSec: changes.length / ((sent - start) / 1000),
    serverCpuMicrosPerOp: (used.user + used.system) / changes.length,
    ...totals(replies),
  };
}

/**
 * W11's baseline: the same W11_CLIENTS sockets over W11_PROCS children, one key each, and W11's
 * merges on W11's schedule, each just its change sent to the sockets of its key. The server's
 * heap and rss per connection (all live, against before any), the accept rate, the latencies.
 */
export async function W11() {
  const subscriptions = Array.from({ length: SIZES.W11_CLIENTS }, (_, c) => [keyOf(c)]);
  const changes = changeJsons(operations(SIZES.W11_MERGES, SIZES.W11_CLIENTS, 11));
  const server = await listen(true);
  const idle = await memory();
  const { children, acceptMs, acceptCpuMicros } = await connectClients(server.port, subscriptions, SIZES.W11_PROCS, true);
  const live = await memory();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < changes.length; i++) {
    const { key, json } = changes[i];
    const message = `{"type":"changes","at":${now()},"changes":[${json}]}`;
    for (const socket of server.byKey.get(key)) socket.send(message);
    const wait = start + (i + 1) * SIZES.W11_INTERVAL_MS - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const used = process.cpuUsage(cpu);
  const replies = await drain(children, subscriptions, lastSeqs(changes), changes.length);
  await stopClients(children);
  await server.close();
  return {
    ...acceptFigures({ idle, live, connections: subscriptions.length, acceptMs, acceptCpuMicros }),
    ...histogramFigures(replies.map((reply) => reply.latencies)),
    serverCpuMicrosPerMerge: (used.user + used.system) / changes.length,
    ...totals(replies),
  };
}

/**
 * W12's baseline: the same W12_CLIENTS sockets on one key over W12_PROCS children, and W12's
 * schedule: every wake sends the changes whose slots have come, in one message built once for
 * all the sockets.
 */
export async function W12() {
  const hot = keyOf(0);
  const subscriptions = Array.from({ length: SIZES.W12_CLIENTS }, () => [hot]);
  const changes = changeJsons(operations(SIZES.W12_MERGES, 1, 12));
  const server = await listen(true);
  const { children } = await connectClients(server.port, subscriptions, SIZES.W12_PROCS);
  const sockets = server.byKey.get(hot);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < changes.length; ) {
    const due = Math.min(changes.length, Math.floor((performance.now() - start) / SIZES.W12_INTERVAL_MS) + 1);
    if (due > i) {
      const message = `{"type":"changes","at":${now()},"changes":[${changes
        .slice(i, due)
        .map(({ json }) => json)
        .join(',')}]}`;
      for (const socket of sockets) socket.send(message);
      i = due;
    }
    if (i < changes.length) await sleep(start + i * SIZES.W12_INTERVAL_MS - performance.now());
  }
  const sent = performance.now();
  const replies = await drain(children, subscriptions, lastSeqs(changes), changes.length);
  const drainedSeconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await stopClients(children);
  await server.close();
  const counted = totals(replies);
  return {
    ...histogramFigures(replies.map((reply) => reply.latencies)),
    mergesPerSec: changes.length / ((sent - start) / 1000),
    drainedSeconds,
    serverCpuMicrosPerDelivery: (used.user + used.system) / counted.deliveries,
    ...counted,
  };
}

/**
 * The replicas of a client child: one socket each, saying which keys it wants, live once answered;
 * each message parsed, its changes counted, and timed when it carries `at`. With `go`, it connects
 * only when told to.
 */
export async function clients({ port, subscriptions, go }) {
  // If the server child dies, leave rather than linger with open sockets.
  const orphaned = () => process.exit(1);
  process.on('disconnect', orphaned);
  if (go) {
    const told = new Promise((resolve) => process.once('message', resolve));
    process.send({ type: 'loaded' });
    await told;
  }
  let undrained = null;
  let deliveries = 0;
  let cpu;
  const histogram = new Map();
  const replicas = subscriptions.map((keys) => ({ keys, maxSeq: 0, target: Infinity }));
  const done = () =>
    process.send({ type: 'drained', deliveries, cpuMicros: ((used) => used.user + used.system)(process.cpuUsage(cpu)), latencies: [...histogram] });
  const sockets = new Array(replicas.length);
  await new Promise((resolve, reject) => {
    let started = 0;
    let live = 0;
    // CONNECTING at once, as rxkv-sync's clients.
    const start = () => {
      const replica = replicas[started];
      const socket = (sockets[started++] = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false }));
      socket.once('open', () => socket.send(JSON.stringify({ keys: replica.keys })));
      socket.once('error', reject);
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString());
        if (message.type === 'live') {
          if (started < replicas.length) start();
          if (++live === replicas.length) resolve();
          return;
        }
        const { changes, at } = message;
        deliveries += changes.length;
        // The changes of a message were published together: one latency for all of them.
        if (at !== undefined) addLatency(histogram, now() - at, changes.length);
        const before = replica.maxSeq;
        replica.maxSeq = changes[changes.length - 1].seq;
        if (undrained !== null && before < replica.target && replica.maxSeq >= replica.target && --undrained === 0) done();
      });
    };
    while (started < Math.min(CONNECTING, replicas.length)) start();
  });
  cpu = process.cpuUsage();
  await new Promise((resolve) => {
    process.on('message', (message) => {
      if (message.type === 'drain') {
        replicas.forEach((replica, i) => (replica.target = message.targets[i]));
        undrained = replicas.filter((replica) => replica.maxSeq < replica.target).length;
        if (undrained === 0) done();
      } else if (message.type === 'close') resolve();
    });
    process.send({ type: 'ready' });
  });
  for (const socket of sockets) socket.terminate();
  process.off('disconnect', orphaned);
  process.disconnect();
  return { replicas: replicas.length, deliveries };
}
