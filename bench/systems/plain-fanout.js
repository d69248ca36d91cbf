// The physical limit of W7's fan-out: the changes of W7's merges, serialized once, broadcast over
// plain `ws` to the same replicas (same subscriptions, same client process), one message per
// socket per event-loop turn. No rxkv on either end: the replicas only parse what they receive.
// The server child (`W7`) forks the client child (`clients`) as rxkv-sync's W7 does; they talk
// over IPC: clients -> { ready } once every socket said hello; server -> { drain, targets };
// clients -> { drained } once each replica got its last change; server -> { close }.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { SIZES, keyOf, operations, random } from '../workload.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'child.js');
const WHOLE_TABLE_CLIENTS = 10;
const KEYS_PER_CLIENT = 4;
/** Changes made ready per event-loop turn: what one group commit of W7 publishes at most. */
const PER_TURN = 512;
/** A socket holding more than this waits, as rxkv's outbox does (its maxBufferedBytes). */
const MAX_BUFFERED = 4 << 20;

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
    const onMessage = (message) => {
      if (message.type !== type) return;
      proc.off('message', onMessage);
      resolve(message);
    };
    proc.on('message', onMessage);
    proc.once('exit', (code) => reject(new Error(`the client child exited (${code}) before '${type}'`)));
  });
}

export async function W7() {
  const subscriptions = layout(SIZES.SYNC_CLIENTS, SIZES.W1_KEYS, 7);
  const { keys, patches } = operations(SIZES.W7_OPS, SIZES.W1_KEYS, 7);
  // Serialized once, before the clock starts: rxkv serializes each change once too.
  const ts = Date.now();
  const changes = keys.map((key, i) => {
    const [member, field] = 'profile' in patches[i] ? ['profile', 'age'] : ['counters', 'a'];
    return { key, json: JSON.stringify({ table: 'bench', key, op: 'merge', seq: i + 1, ts, patch: [{ op: 'replace', path: `/${member}/${field}`, value: i }] }) };
  });
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const sockets = [];
  wss.on('connection', (socket) => socket.once('message', (data) => sockets.push({ socket, keys: JSON.parse(data.toString()).keys })));
  const clients = fork(CHILD, ['plain-fanout', 'clients', JSON.stringify({ port: http.address().port, subscriptions })], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let stdout = '';
  clients.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
  await receive(clients, 'ready');
  while (sockets.length < subscriptions.length) await new Promise((resolve) => setTimeout(resolve, 5));
  const lastSeq = new Map();
  changes.forEach(({ key }, i) => lastSeq.set(key, i + 1));
  const targets = subscriptions.map((subscribed) => (subscribed === null ? changes.length : Math.max(0, ...subscribed.map((key) => lastSeq.get(key) ?? 0))));
  const drained = receive(clients, 'drained');
  clients.send({ type: 'drain', targets });

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
  const { deliveries, cpuMicros } = await drained;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  clients.send({ type: 'close' });
  await new Promise((resolve) => clients.once('exit', resolve));
  for (const { socket } of sockets) socket.terminate();
  await new Promise((resolve) => wss.close(resolve));
  await new Promise((resolve) => http.close(resolve));
  if (!stdout.includes('RESULT ')) throw new Error('the client child gave no result');
  return {
    drainedOpsPerSec: changes.length / seconds,
    sentOpsPerSec: changes.length / ((sent - start) / 1000),
    serverCpuMicrosPerOp: (used.user + used.system) / changes.length,
    clientCpuMicrosPerDelivery: cpuMicros / deliveries,
    deliveries,
  };
}

/** The replicas: one socket each, saying which keys it wants; each message parsed, its changes counted. */
export async function clients({ port, subscriptions }) {
  let targets = null;
  let undrained = subscriptions.length;
  let deliveries = 0;
  let cpu;
  const replicas = subscriptions.map((keys) => ({ keys, maxSeq: 0 }));
  const done = () => process.send({ type: 'drained', deliveries, cpuMicros: ((used) => used.user + used.system)(process.cpuUsage(cpu)) });
  const sockets = await Promise.all(
    replicas.map(
      (replica) =>
        new Promise((resolve, reject) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
          socket.once('open', () => {
            socket.send(JSON.stringify({ keys: replica.keys }));
            resolve(socket);
          });
          socket.once('error', reject);
          socket.on('message', (data) => {
            const { changes } = JSON.parse(data.toString());
            deliveries += changes.length;
            const before = replica.maxSeq;
            replica.maxSeq = changes[changes.length - 1].seq;
            if (targets !== null && before < replica.target && replica.maxSeq >= replica.target && --undrained === 0) done();
          });
        }),
    ),
  );
  cpu = process.cpuUsage();
  await new Promise((resolve) => {
    process.on('message', (message) => {
      if (message.type === 'drain') {
        targets = message.targets;
        replicas.forEach((replica, i) => {
          replica.target = targets[i];
          if (replica.target === 0 || replica.maxSeq >= replica.target) undrained--;
        });
        if (undrained === 0) done();
      } else if (message.type === 'close') resolve();
    });
    process.send({ type: 'ready' });
  });
  for (const socket of sockets) socket.terminate();
  process.disconnect();
  return { replicas: replicas.length, deliveries };
}
