import WebSocket from 'ws';
import { CloseCode, type Access, type ServeOptions } from 'rxkv/server';
import type { RemoteDatabase } from 'rxkv/client';
import { removeTempDirs } from './helpers/temp.js';
import { RawClient, client, eventually, startServer, stopServer, until, type Served } from './helpers/sync.js';

/**
 * The sync server facing a hostile or broken peer, over real loopback sockets: authentication,
 * the hello, origins, malformed and oversized messages, authorization, prototype pollution,
 * floods, timeouts and heartbeats. Every refusal must leave the database untouched and the server
 * (and its other clients) serving.
 */

/** Object.prototype as the process started: nothing may add to it. */
const PROTOTYPE_MEMBERS = Reflect.ownKeys(Object.prototype).map(String).sort();

function expectNoPollution(): void {
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  expect(({} as Record<string, unknown>)['more']).toBeUndefined();
  expect(Reflect.ownKeys(Object.prototype).map(String).sort()).toEqual(PROTOTYPE_MEMBERS);
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  expect(Reflect.ownKeys(Array.prototype).includes('polluted')).toBeFalse();
  expect(Reflect.ownKeys(Function.prototype).includes('polluted')).toBeFalse();
}

/** Deep equality of JSON values by own members only (a `__proto__` member included). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) => Object.hasOwn(b, key) && sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/** Every object in a JSON value is a plain object or array: no member became a prototype. */
function isPlain(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  const proto = Object.getPrototypeOf(value);
  if (proto !== (Array.isArray(value) ? Array.prototype : Object.prototype)) return false;
  return Object.values(value).every(isPlain);
}

/** The `subscribed` that ends a subscribe (per-subscription errors share its id and come first). */
const subscribed = (raw: RawClient, id: number): Promise<any> => raw.next((message) => message.type === 'subscribed' && message.id === id);

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function putOp(table: string, key: string, value: unknown): object {
  return { op: 'put', table, key, value };
}

describe('sync security: rxkv/server facing hostile and broken peers over loopback', () => {
  let served: Served | undefined;
  const remotes: RemoteDatabase[] = [];
  const raws: RawClient[] = [];

  const start = async (options: ServeOptions<any> = {}): Promise<Served> => (served = await startServer(options));
  const connect = (options = {}): RemoteDatabase => {
    const remote = client(served!.url, options);
    remotes.push(remote);
    return remote;
  };
  const open = async (options: WebSocket.ClientOptions = {}): Promise<RawClient> => {
    const raw = await RawClient.open(served!.url, options);
    raws.push(raw);
    return raw;
  };
  const hello = async (token?: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> => {
    const raw = await open(options);
    raw.send(token === undefined ? { type: 'hello', v: 3 } : { type: 'hello', v: 3, token });
    await raw.next((message) => message.type === 'welcome');
    return raw;
  };
  /** A valid write on `raw`; resolves to its reply. */
  const write = (raw: RawClient, id: number, table = 'ok', key = 'k', value: unknown = { n: id }): Promise<any> => {
    raw.send({ type: 'write', id, ops: [putOp(table, key, value)] });
    return raw.reply(id);
  };

  afterEach(async () => {
    for (const raw of raws.splice(0)) raw.close();
    await Promise.all(remotes.splice(0).map((remote) => remote.close()));
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  describe('authentication', () => {
    const tokens: (string | undefined)[] = [];
    beforeEach(async () => {
      tokens.length = 0;
      await start({
        authenticate: async ({ token, request }) => {
          tokens.push(token);
          expect(request.headers.upgrade).toBe('websocket');
          await delay(5);
          if (token === 'good') return { user: 'alice' };
          if (token === 'throws') throw new Error('hook failed');
          if (token === 'rejects') return Promise.reject(new Error('hook rejected'));
          if (token === 'undefined') return undefined as never;
          return null;
        },
      });
    });

    for (const { name, token } of [
      { name: 'no token', token: undefined },
      { name: 'a bad token', token: 'bad' },
      { name: 'an authenticate that throws', token: 'throws' },
      { name: 'an authenticate that rejects', token: 'rejects' },
      { name: 'an authenticate that resolves to undefined', token: 'undefined' },
    ]) {
      it(`should close with 4401 on ${name}, and run nothing sent after the hello`, async () => {
        const raw = await open();
        // The hello and a write in one TCP segment: the write must not slip in while the hook runs.
        const tcp = (raw.socket as any)._socket;
        tcp.cork();
        raw.send(token === undefined ? { type: 'hello', v: 3 } : { type: 'hello', v: 3, token });
        raw.send({ type: 'write', id: 1, ops: [putOp('t', 'k', { n: 1 })] });
        tcp.uncork();
        expect(await raw.closed()).toBe(CloseCode.UNAUTHORIZED);
        expect(CloseCode.UNAUTHORIZED).toBe(4401);
        expect(raw.received).toEqual([]);
        expect(tokens).toEqual([token]);
        await delay(20);
        expect(served!.db.tableNames()).toEqual([]);
        expect(served!.db.seq).toBe(0);
        await eventually(() => served!.server.connections === 0, 'the connection to go');
      });
    }

    it('should welcome a good token, then take the requests sent right behind its hello', async () => {
      const raw = await open();
      const tcp = (raw.socket as any)._socket;
      tcp.cork();
      raw.send({ type: 'hello', v: 3, token: 'good' });
      raw.send({ type: 'write', id: 1, ops: [putOp('t', 'k', { n: 1 })] });
      tcp.uncork();
      expect(await raw.reply(1)).toEqual({ type: 'committed', id: 1, seq: 1 });
      expect(raw.received.map((message) => message.type)).toEqual(['welcome', 'committed']);
      expect(raw.received[0]).toEqual({ type: 'welcome', v: 3, history: served!.db.history, seq: 0, maxMessageBytes: 1 << 20 });
      expect(served!.db.table('t').get('k')).toEqual({ n: 1 });
      expect(raw.closeCode).toBeUndefined();
    });
  });

  describe('the hello', () => {
    beforeEach(() => start());

    for (const { name, first } of [
      { name: 'a request before hello', first: JSON.stringify({ type: 'write', id: 1, ops: [putOp('t', 'k', {})] }) },
      { name: 'a hello with the wrong protocol version', first: JSON.stringify({ type: 'hello', v: 1 }) },
      { name: 'a hello of protocol 2 (the version before history ids)', first: JSON.stringify({ type: 'hello', v: 2 }) },
      { name: 'a hello without a version', first: JSON.stringify({ type: 'hello' }) },
      { name: 'a hello with a token that is not a string', first: JSON.stringify({ type: 'hello', v: 3, token: 42 }) },
      { name: 'non-JSON', first: 'hello?' },
      { name: 'a JSON array', first: '[{"type":"hello","v":1}]' },
      { name: 'a binary frame', first: Buffer.from(JSON.stringify({ type: 'hello', v: 3 })) },
    ]) {
      it(`should close with 4400 on ${name} as the first message`, async () => {
        const raw = await open();
        raw.socket.send(first);
        expect(await raw.closed()).toBe(CloseCode.BAD_HELLO);
        expect(CloseCode.BAD_HELLO).toBe(4400);
        expect(raw.received).toEqual([]);
        expect(served!.db.tableNames()).toEqual([]);
        await eventually(() => served!.server.connections === 0, 'the connection to go');
      });
    }
  });

  describe('origins', () => {
    beforeEach(() => start({ origins: ['http://good.example'] }));

    for (const origin of ['http://evil.example', 'null', 'http://good.example.evil.example', 'https://good.example']) {
      it(`should refuse the upgrade from Origin ${origin} with HTTP 403`, async () => {
        const status = await new Promise<number>((resolve, reject) => {
          const socket = new WebSocket(served!.url, { origin });
          socket.on('unexpected-response', (request, response) => {
            resolve(response.statusCode!);
            request.destroy();
          });
          socket.on('open', () => reject(new Error('the upgrade was accepted')));
          socket.on('error', () => undefined);
        });
        expect(status).toBe(403);
        await expectAsync(RawClient.open(served!.url, { origin })).toBeRejectedWithError(/Unexpected server response: 403/);
        expect(served!.server.connections).toBe(0);
      });
    }

    it('should let the allowed origin and a request without Origin connect', async () => {
      const good = await hello(undefined, { origin: 'http://good.example' });
      const none = await hello();
      expect(served!.server.connections).toBe(2);
      expect(await write(good, 1)).toEqual(jasmine.objectContaining({ type: 'committed', id: 1 }));
      expect(await write(none, 2)).toEqual(jasmine.objectContaining({ type: 'committed', id: 2 }));
    });
  });

  describe('malformed messages after hello', () => {
    beforeEach(() => start());

    const manyOps = Array.from({ length: 1001 }, (_, i) => putOp('bad', `k${i}`, {}));
    const BAD: { name: string; data: string | Buffer; id: number | null }[] = [
      { name: 'non-JSON text', data: '{"type":"write",', id: null },
      { name: 'a JSON array', data: JSON.stringify([{ type: 'write', id: 1, ops: [putOp('bad', 'k', {})] }]), id: null },
      { name: 'a JSON number', data: '42', id: null },
      { name: 'a JSON string', data: '"write"', id: null },
      { name: 'JSON null', data: 'null', id: null },
      { name: 'JSON true', data: 'true', id: null },
      { name: 'an unknown type', data: JSON.stringify({ type: 'frobnicate', id: 11, ops: [putOp('bad', 'k', {})] }), id: 11 },
      { name: 'no type', data: JSON.stringify({ id: 12, ops: [putOp('bad', 'k', {})] }), id: 12 },
      { name: 'a missing id', data: JSON.stringify({ type: 'write', ops: [putOp('bad', 'k', {})] }), id: null },
      { name: 'a negative id', data: JSON.stringify({ type: 'write', id: -1, ops: [putOp('bad', 'k', {})] }), id: null },
      { name: 'a fractional id', data: JSON.stringify({ type: 'write', id: 1.5, ops: [putOp('bad', 'k', {})] }), id: null },
      { name: 'a string id', data: JSON.stringify({ type: 'write', id: '13', ops: [putOp('bad', 'k', {})] }), id: null },
      { name: 'a table that is a number', data: JSON.stringify({ type: 'write', id: 14, ops: [putOp(7 as never, 'k', {})] }), id: 14 },
      { name: 'a missing key', data: JSON.stringify({ type: 'write', id: 15, ops: [{ op: 'put', table: 'bad', value: {} }] }), id: 15 },
      { name: 'a put without a value', data: JSON.stringify({ type: 'write', id: 16, ops: [{ op: 'put', table: 'bad', key: 'k' }] }), id: 16 },
      { name: 'subs that are not an array', data: JSON.stringify({ type: 'subscribe', id: 17, subs: { sub: 1, table: 'bad' } }), id: 17 },
      { name: 'empty subs', data: JSON.stringify({ type: 'subscribe', id: 18, subs: [] }), id: 18 },
      { name: 'empty ops', data: JSON.stringify({ type: 'write', id: 19, ops: [] }), id: 19 },
      { name: "op 'frobnicate'", data: JSON.stringify({ type: 'write', id: 20, ops: [{ op: 'frobnicate', table: 'bad', key: 'k', value: {} }] }), id: 20 },
      { name: 'keys with non-strings', data: JSON.stringify({ type: 'subscribe', id: 21, subs: [{ sub: 1, table: 'bad', keys: ['a', 1] }] }), id: 21 },
      { name: 'a negative since', data: JSON.stringify({ type: 'subscribe', id: 22, subs: [{ sub: 1, table: 'bad' }], since: -1 }), id: 22 },
      { name: 'both key and prefix', data: JSON.stringify({ type: 'subscribe', id: 23, subs: [{ sub: 1, table: 'bad', key: 'k', prefix: 'k' }] }), id: 23 },
      { name: 'a sub number that is a string', data: JSON.stringify({ type: 'subscribe', id: 24, subs: [{ sub: 'one', table: 'bad' }] }), id: 24 },
      { name: 'an unsubscribe of non-numbers', data: JSON.stringify({ type: 'unsubscribe', id: 25, subs: ['1'] }), id: 25 },
      { name: 'an op that is not an object', data: JSON.stringify({ type: 'write', id: 26, ops: ['put', 'bad', 'k'] }), id: 26 },
      { name: 'more ops than a write may hold', data: JSON.stringify({ type: 'write', id: 27, ops: manyOps }), id: 27 },
      { name: 'a duplicate sub number', data: JSON.stringify({ type: 'subscribe', id: 28, subs: [{ sub: 1, table: 'bad' }, { sub: 1, table: 'bad2' }] }), id: 28 },
      { name: 'a since without its history', data: JSON.stringify({ type: 'subscribe', id: 30, subs: [{ sub: 1, table: 'bad' }], since: 3 }), id: 30 },
      { name: 'a history that is not a string', data: JSON.stringify({ type: 'subscribe', id: 31, subs: [{ sub: 1, table: 'bad' }], since: 3, history: 7 }), id: 31 },
      { name: 'a mutation number that is not a positive integer', data: JSON.stringify({ type: 'write', id: 32, m: 0, ops: [putOp('bad', 'k', {})] }), id: 32 },
      { name: 'a mutation number without a client id', data: JSON.stringify({ type: 'write', id: 33, m: 1, ops: [putOp('bad', 'k', {})] }), id: 33 },
      { name: 'a second hello', data: JSON.stringify({ type: 'hello', v: 3 }), id: null },
      { name: 'a binary frame', data: Buffer.from(JSON.stringify({ type: 'write', id: 29, ops: [putOp('bad', 'k', {})] })), id: null },
    ];

    for (const bad of BAD) {
      it(`should answer ${bad.name} with BAD_MESSAGE, touch nothing, and stay open`, async () => {
        const raw = await hello();
        raw.socket.send(bad.data);
        const error = await raw.next((message) => message.type === 'error');
        expect(error).toEqual({ type: 'error', id: bad.id, code: 'BAD_MESSAGE', message: jasmine.any(String) });
        expect(served!.db.seq).toBe(0);
        expect(served!.db.tableNames()).toEqual([]);
        expect(await write(raw, 100)).toEqual({ type: 'committed', id: 100, seq: 1 });
        expect(raw.received.map((message) => message.type)).toEqual(['welcome', 'error', 'committed']);
        expect(served!.db.tableNames()).toEqual(['ok']);
        expect(served!.db.table('ok').get('k')).toEqual({ n: 100 });
        expect(raw.closeCode).toBeUndefined();
      });
    }

    it('should answer every one of them, in order, on one connection that stays usable', async () => {
      const raw = await hello();
      for (const bad of BAD) raw.socket.send(bad.data);
      expect(await write(raw, 100)).toEqual({ type: 'committed', id: 100, seq: 1 });
      const errors = raw.received.filter((message) => message.type === 'error');
      expect(errors.map((error) => `${error.code} ${error.id}`)).toEqual(BAD.map((bad) => `BAD_MESSAGE ${bad.id}`));
      expect(raw.received.length).toBe(BAD.length + 2);
      expect(served!.db.tableNames()).toEqual(['ok']);
    });

    it('should answer a valid request the database refuses with its error and id, and stay open', async () => {
      const raw = await hello();
      raw.send({ type: 'write', id: 1, ops: [putOp('no spaces', 'k', {})] });
      raw.send({ type: 'write', id: 2, ops: [putOp('ok', '', {})] });
      raw.send({ type: 'subscribe', id: 3, subs: [{ sub: 1, table: 'no spaces' }] });
      expect((await raw.reply(1)).code).toBe('INVALID_TABLE_NAME');
      expect((await raw.reply(2)).code).toBe('INVALID_KEY');
      expect(await raw.next((message) => message.type === 'error' && message.sub === 1)).toEqual(jasmine.objectContaining({ id: 3, code: 'INVALID_TABLE_NAME' }));
      await subscribed(raw, 3);
      expect(served!.db.seq).toBe(0);
      expect(await write(raw, 4)).toEqual({ type: 'committed', id: 4, seq: 1 });
    });
  });

  describe('oversized messages', () => {
    const LIMIT = 1024;
    beforeEach(() => start({ maxMessageBytes: LIMIT }));

    /** A write message of exactly `bytes` bytes of UTF-8. */
    const writeOf = (bytes: number, id: number): string => {
      const shell = JSON.stringify({ type: 'write', id, ops: [putOp('big', 'k', { text: '' })] });
      return shell.replace('"text":""', `"text":"${'x'.repeat(bytes - Buffer.byteLength(shell))}"`);
    };

    it('should close with 1009 past maxMessageBytes, the server and its other clients carrying on', async () => {
      const bystander = connect();
      const seen: unknown[] = [];
      bystander.table('b').watch('k').subscribe((value) => seen.push(value));
      await until(bystander, 'open');
      await eventually(() => seen.length === 1, 'the bystander\'s snapshot');
      const states: string[] = [];
      bystander.status$.subscribe((status) => states.push(status.state));

      const raw = await hello();
      const exact = writeOf(LIMIT, 1);
      expect(Buffer.byteLength(exact)).toBe(LIMIT);
      raw.send(exact);
      expect((await raw.reply(1)).type).toBe('committed');
      raw.send(writeOf(LIMIT + 1, 2));
      expect(await raw.closed()).toBe(CloseCode.MESSAGE_TOO_BIG);
      expect(CloseCode.MESSAGE_TOO_BIG).toBe(1009);
      expect(raw.received.some((message) => message.id === 2)).toBeFalse();
      expect(served!.db.seq).toBe(1);
      await eventually(() => served!.server.connections === 1, 'the connection to go');

      expect(await bystander.table('b').merge('k', { n: 1 })).toBe(2);
      await eventually(() => seen.length === 2, 'the bystander\'s change');
      expect(seen).toEqual([undefined, { n: 1 }]);
      expect(states).toEqual(['open']);
      const again = await hello();
      expect(await write(again, 3)).toEqual({ type: 'committed', id: 3, seq: 3 });
    });
  });

  for (const mode of ['sync', 'async']) {
    describe(`authorization (${mode} hook)`, () => {
      const calls: [unknown, Access][] = [];
      beforeEach(async () => {
        calls.length = 0;
        await start({
          authenticate: ({ token }) => ({ user: token }),
          authorize: (principal: unknown, access: Access) => {
            calls.push([principal, { ...access }]);
            if (access.table === 'boom') throw new Error('hook failed');
            const allowed = access.table !== 'secret' && access.key !== 'forbidden';
            return mode === 'sync' ? allowed : delay(2).then(() => allowed);
          },
        });
      });

      it('should refuse a forbidden subscription with FORBIDDEN, per subscription, after asking with the right access', async () => {
        const raw = await hello('alice');
        raw.send({
          type: 'subscribe',
          id: 1,
          subs: [
            { sub: 1, table: 'secret', key: 'k' },
            { sub: 2, table: 'secret', prefix: 'p' },
            { sub: 3, table: 'secret' },
            { sub: 4, table: 'open', keys: ['a', 'forbidden'] },
            { sub: 5, table: 'boom' },
            { sub: 6, table: 'open', key: 'a' },
          ],
        });
        await subscribed(raw, 1);
        const errors = raw.received.filter((message) => message.type === 'error');
        expect(errors.map((error) => [error.id, error.sub, error.code])).toEqual([
          [1, 1, 'FORBIDDEN'],
          [1, 2, 'FORBIDDEN'],
          [1, 3, 'FORBIDDEN'],
          [1, 4, 'FORBIDDEN'],
          [1, 5, 'FORBIDDEN'],
        ]);
        expect(raw.received.filter((message) => message.type === 'snapshot').map((snapshot) => snapshot.sub)).toEqual([6]);
        const alice = { user: 'alice' };
        expect(calls).toEqual([
          [alice, { action: 'read', table: 'secret', key: 'k' }],
          [alice, { action: 'read', table: 'secret', prefix: 'p' }],
          [alice, { action: 'read', table: 'secret' }],
          [alice, { action: 'read', table: 'open', key: 'a' }],
          [alice, { action: 'read', table: 'open', key: 'forbidden' }],
          [alice, { action: 'read', table: 'boom' }],
          [alice, { action: 'read', table: 'open', key: 'a' }],
        ]);
        expect(calls.map(([, access]) => Object.keys(access).sort().join())).toEqual([
          'action,key,table',
          'action,prefix,table',
          'action,table',
          'action,key,table',
          'action,key,table',
          'action,table',
          'action,key,table',
        ]);
        expect(served!.db.tableNames()).withContext('a subscription creates no table').toEqual([]);

        // Nothing of a forbidden table reaches the connection; the allowed one is live.
        await served!.db.table('secret').put('k', { secret: true });
        await served!.db.table('secret').put('p1', { secret: true });
        await served!.db.table('open').put('forbidden', { secret: true });
        await served!.db.table('open').put('a', { n: 1 });
        const changes = await raw.next((message) => message.type === 'changes');
        expect(changes.changes.map((change: any) => `${change.table}/${change.key}`)).toEqual(['open/a']);
        await delay(20);
        const delivered = raw.received.filter((message) => message.type === 'changes').flatMap((message) => message.changes);
        expect(delivered.map((change: any) => `${change.table}/${change.key}`)).toEqual(['open/a']);
      });

      it('should refuse a write naming a forbidden key with FORBIDDEN, writing nothing of it', async () => {
        const raw = await hello('bob');
        raw.send({ type: 'write', id: 1, ops: [putOp('open', 'a', { n: 1 }), putOp('open', 'forbidden', { n: 2 })] });
        raw.send({ type: 'write', id: 2, ops: [{ op: 'merge', table: 'secret', key: 'x', value: { n: 3 } }] });
        raw.send({ type: 'write', id: 3, ops: [{ op: 'delete', table: 'open', key: 'forbidden' }] });
        raw.send({ type: 'write', id: 4, ops: [putOp('boom', 'x', {})] });
        for (const id of [1, 2, 3, 4]) expect(await raw.reply(id)).toEqual({ type: 'error', id, code: 'FORBIDDEN', message: jasmine.any(String) });
        expect(served!.db.seq).toBe(0);
        expect(served!.db.tableNames()).toEqual([]);
        const bob = { user: 'bob' };
        expect(calls).toEqual([
          [bob, { action: 'write', table: 'open', key: 'a' }],
          [bob, { action: 'write', table: 'open', key: 'forbidden' }],
          [bob, { action: 'write', table: 'secret', key: 'x' }],
          [bob, { action: 'write', table: 'open', key: 'forbidden' }],
          [bob, { action: 'write', table: 'boom', key: 'x' }],
        ]);
        expect(await write(raw, 5, 'open', 'a')).toEqual({ type: 'committed', id: 5, seq: 1 });
        expect(served!.db.table('open').get('a')).toEqual({ n: 5 });
        expect(served!.db.table('open').has('forbidden')).toBeFalse();
        expect(raw.closeCode).toBeUndefined();
      });
    });
  }

  describe('__proto__ payloads', () => {
    beforeEach(() => start());

    it('should store and serve them as plain data, polluting no prototype on the server or in a replica', async () => {
      const remote = connect();
      const states: string[] = [];
      remote.status$.subscribe((status) => states.push(status.state));
      const watched: { table: string; key: string; values: unknown[] }[] = [
        { table: 't', key: 'p', values: [] },
        { table: '__proto__', key: '__proto__', values: [] },
        { table: 'constructor', key: 'prototype', values: [] },
      ];
      for (const { table, key, values } of watched) remote.table(table).watch(key).subscribe((value) => values.push(value));
      await until(remote, 'open');
      await eventually(() => watched.every(({ values }) => values.length === 1), 'the replica\'s snapshots');

      const raw = await hello();
      // Subscriptions whose objects carry __proto__ members (own members, as JSON.parse makes them).
      raw.send('{"type":"subscribe","id":1,"__proto__":{"polluted":true,"since":0},"subs":[{"sub":1,"table":"t","key":"p","__proto__":{"polluted":true,"prefix":""}}]}');
      raw.send('{"type":"subscribe","id":2,"subs":[{"sub":2,"table":"__proto__","key":"__proto__"},{"sub":3,"table":"constructor","prefix":"__proto__"},{"sub":4,"table":"constructor","keys":["__proto__","prototype"]}]}');
      raw.send('{"type":"subscribe","id":3,"subs":[{"__proto__":{"sub":9,"table":"t"}}]}');
      expect((await raw.reply(1)).type).toBe('subscribed');
      expect((await raw.reply(2)).type).toBe('subscribed');
      expect(await raw.reply(3)).toEqual(jasmine.objectContaining({ type: 'error', code: 'BAD_MESSAGE' }));
      // The snapshot came: "since" in the __proto__ member was not read as a resume.
      expect(raw.received.filter((message) => message.type === 'snapshot').map((snapshot) => snapshot.sub)).toEqual([1, 2, 3, 4]);
      expectNoPollution();

      const writes = [
        '{"op":"put","table":"t","key":"p","value":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"n":1}}',
        '{"op":"merge","table":"t","key":"p","value":{"a":{"__proto__":{"polluted":true}}}}',
        '{"op":"merge","table":"t","key":"p","value":{"a":{"__proto__":{"more":true}},"__proto__":{"x":1}}}',
        '{"op":"merge","table":"t","key":"p","value":{"constructor":{"prototype":{"more":true}}}}',
        '{"op":"merge","table":"t","key":"p","value":{"n":2}}',
        '{"op":"merge","table":"t","key":"p","value":{"__proto__":{"polluted":null}}}',
        '{"op":"merge","table":"t","key":"p","value":{"__proto__":null,"b":[{"__proto__":{"polluted":true}}]}}',
        '{"op":"merge","table":"t","key":"p","value":{"__proto__":{"polluted":true}}}',
        '{"op":"put","table":"__proto__","key":"__proto__","value":{"__proto__":{"polluted":true}}}',
        '{"op":"merge","table":"constructor","key":"prototype","value":{"polluted":true,"__proto__":{"polluted":true}}}',
        '{"op":"merge","table":"constructor","key":"__proto__","value":{"prototype":{"polluted":true}}}',
      ];
      let id = 10;
      for (const op of writes) {
        id++;
        raw.send(`{"type":"write","id":${id},"ops":[${op}],"__proto__":{"ops":[]}}`);
        expect(await raw.reply(id)).toEqual(jasmine.objectContaining({ type: 'committed', id }));
        expectNoPollution();
        for (const { table, key, values } of watched) {
          const stored = served!.db.table(table).get(key);
          await eventually(() => sameJson(remote.table(table).get(key), stored), `the replica of ${table}/${key} after write ${id}`);
          expect(sameJson(values.at(-1), stored)).withContext(`the last value watched of ${table}/${key}`).toBeTrue();
        }
      }
      // A write whose op takes "table" from its __proto__ member is not a write.
      raw.send('{"type":"write","id":50,"ops":[{"op":"put","key":"z","value":{},"__proto__":{"table":"t"}}]}');
      expect(await raw.reply(50)).toEqual(jasmine.objectContaining({ type: 'error', code: 'BAD_MESSAGE' }));

      // What the database stored: __proto__ as an own data member, never as the prototype.
      const stored = served!.db.table('t').get('p') as Record<string, any>;
      expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
      expect(Object.hasOwn(stored, '__proto__')).toBeTrue();
      expect(Object.getOwnPropertyDescriptor(stored, '__proto__')!.value).toEqual({ polluted: true });
      expect(JSON.stringify(stored)).toBe(
        '{"constructor":{"prototype":{"polluted":true,"more":true}},"n":2,"a":{"__proto__":{"polluted":true,"more":true}},"b":[{"__proto__":{"polluted":true}}],"__proto__":{"polluted":true}}',
      );
      for (const { table, key, values } of watched) {
        expect(values.every(isPlain)).withContext(`${table}/${key} values are plain`).toBeTrue();
        expect(isPlain(served!.db.table(table).get(key))).toBeTrue();
      }

      // On the wire: no patch names a member a JSON Patch library refuses; such records were sent whole.
      const changes = raw.received.filter((message) => message.type === 'changes').flatMap((message) => message.changes);
      expect(changes.length).toBe(writes.length);
      for (const change of changes) {
        for (const operation of change.patch) expect(operation.path.includes('/__proto__') || operation.path.includes('/constructor/prototype')).toBeFalse();
      }
      const whole = changes.filter((change: any) => change.patch.length === 1 && change.patch[0].path === '' && change.patch[0].op === 'replace');
      expect(whole.length).toBeGreaterThan(0);

      // Writes through the client, of values holding __proto__ members, round-trip as well.
      const t = remote.table('t');
      await t.merge('p', JSON.parse('{"__proto__":{"y":2},"constructor":{"prototype":{"z":3}}}'));
      await t.put('q', JSON.parse('{"__proto__":{"polluted":true}}'));
      await eventually(() => sameJson(t.get('p'), served!.db.table('t').get('p')), 'the replica after the client\'s merge');
      expect((served!.db.table('t').get('p') as any).__proto__).toEqual({ polluted: true, y: 2 });
      expect(Object.hasOwn(served!.db.table('t').get('q') as object, '__proto__')).toBeTrue();
      expectNoPollution();
      expect(states).toEqual(['connecting', 'open']); // never diverged, never reconnected
      expect(raw.closeCode).toBeUndefined();
    });
  });

  describe('dumps (admin)', () => {
    it('should refuse a dump without an authorize hook, and when it does not allow admin', async () => {
      await start();
      await served!.db.table('t').put('k', { n: 1 });
      const raw = await hello();
      raw.send({ type: 'dump', id: 1 });
      expect(await raw.reply(1)).toEqual({ type: 'error', id: 1, code: 'FORBIDDEN', message: jasmine.any(String) });
      expect(raw.received.some((message) => message.type === 'dump')).toBeFalse();
    });

    it('should send the whole database, header first, once authorize allows { action: admin, table: * }', async () => {
      const asked: unknown[] = [];
      await start({ authorize: (_principal, access) => (asked.push(access), access.action === 'admin') });
      await served!.db.table('t').put('k', { n: 1 });
      await served!.db.table('u').put('j', [1]);
      const raw = await hello();
      raw.send({ type: 'dump', id: 1 });
      const page = await raw.next((message) => message.type === 'dump' && message.last === true);
      expect(asked).toEqual([{ action: 'admin', table: '*' }]);
      expect(page.lines.map((line: { table?: string; key?: string; format?: string }) => line.format ?? `${line.table}/${line.key}`)).toEqual(['rxkv-dump', 't/k', 'u/j']);
      expect(page.lines[0]).toEqual({ format: 'rxkv-dump', version: 1, seq: 2, history: served!.db.history, tables: ['t', 'u'] });
    });
  });

  describe('a flood', () => {
    beforeEach(() => start());

    it('should answer each of 10,000 messages sent at once exactly once, while another client carries on', async () => {
      const raw = await hello();
      const bystander = connect();
      const seen: unknown[] = [];
      bystander.table('b').watch('k').subscribe((value) => seen.push(value));
      await until(bystander, 'open');
      await eventually(() => seen.length === 1, 'the bystander\'s snapshot');

      const COUNT = 10_000;
      const kinds = ['merge', 'proto', 'empty ops', 'garbage', 'unsubscribe'];
      const expected = new Map<number, string>();
      let idless = 0;
      for (let i = 0; i < COUNT; i++) {
        const id = i + 1;
        const kind = kinds[i % kinds.length];
        if (kind === 'merge') {
          raw.send({ type: 'write', id, ops: [{ op: 'merge', table: 'flood', key: `k${(i / 5) % 100}`, value: { n: i } }] });
          expected.set(id, 'committed');
        } else if (kind === 'proto') {
          raw.send(`{"type":"write","id":${id},"ops":[{"op":"merge","table":"flood","key":"p${((i - 1) / 5) % 10}","value":{"__proto__":{"polluted":${i}},"n":${i}}}]}`);
          expected.set(id, 'committed');
        } else if (kind === 'empty ops') {
          raw.send({ type: 'write', id, ops: [] });
          expected.set(id, 'error');
        } else if (kind === 'garbage') {
          raw.send(`{"type":"write","id":${id},`);
          idless++;
        } else {
          raw.send({ type: 'unsubscribe', id, subs: [i] });
          expected.set(id, 'unsubscribed');
        }
      }

      // Meanwhile, the other client writes and watches.
      const bystanderSeqs: number[] = [];
      for (let n = 1; n <= 10; n++) bystanderSeqs.push(await bystander.table('b').merge('k', { n }));
      await eventually(() => seen.length >= 2 && sameJson(seen.at(-1), { n: 10 }), 'the bystander\'s changes');
      expect(bystanderSeqs).toEqual([...bystanderSeqs].sort((a, b) => a - b));

      await eventually(() => raw.received.length >= COUNT + 1, 'every reply', 20_000);
      await delay(50);
      expect(raw.received.length).toBe(COUNT + 1); // the welcome, and one reply each
      const replies = new Map<number, string[]>();
      let idlessErrors = 0;
      for (const message of raw.received.slice(1)) {
        if (message.id === null) {
          expect(message).toEqual(jasmine.objectContaining({ type: 'error', code: 'BAD_MESSAGE' }));
          idlessErrors++;
          continue;
        }
        replies.set(message.id, [...(replies.get(message.id) ?? []), message.type]);
      }
      expect(idlessErrors).toBe(idless);
      expect(replies.size).toBe(expected.size);
      const wrong = [...expected].filter(([id, type]) => replies.get(id)?.join() !== type);
      expect(wrong.slice(0, 5)).toEqual([]);
      expect(served!.db.table('flood').size).toBe(110);
      expect(served!.db.table('flood').get('k99')).toEqual({ n: 9_995 });
      expect(raw.closeCode).toBeUndefined();
      expect(bystander.status.state).toBe('open');
      expect(served!.server.connections).toBe(2);
      expectNoPollution();
    }, 30_000);
  });

  describe('timeouts', () => {
    it('should close a connection that says no hello within helloTimeout with 4408, not one that did', async () => {
      await start({ helloTimeout: 100 });
      const greeted = await hello();
      const silent = await open();
      const opened = Date.now();
      expect(await silent.closed()).toBe(CloseCode.HELLO_TIMEOUT);
      expect(CloseCode.HELLO_TIMEOUT).toBe(4408);
      expect(Date.now() - opened).toBeGreaterThanOrEqual(90);
      await delay(150);
      expect(greeted.closeCode).toBeUndefined();
      expect(await write(greeted, 1)).toEqual(jasmine.objectContaining({ type: 'committed' }));
      expect(served!.server.connections).toBe(1);
    });

    it('should drop a peer that stops answering pings within a few heartbeats, not one that answers', async () => {
      await start({ heartbeat: 50 });
      const answering = await hello();
      const deaf = await hello();
      expect(served!.server.connections).toBe(2);
      (deaf.socket as any)._socket.pause();
      const paused = Date.now();
      await eventually(() => served!.server.connections === 1, 'the deaf peer to be dropped', 1000);
      expect(Date.now() - paused).toBeLessThan(400);
      await delay(200); // several more heartbeats
      expect(answering.closeCode).toBeUndefined();
      expect(served!.server.connections).toBe(1);
      expect(await write(answering, 1)).toEqual(jasmine.objectContaining({ type: 'committed' }));
    });
  });

  describe('heartbeat while not reading', () => {
    it('should not drop a peer whose authenticate takes several heartbeats', async () => {
      await start({
        heartbeat: 50,
        authenticate: async ({ token }) => {
          await delay(400);
          return token === 'good' ? { user: 'slow' } : null;
        },
      });
      const raw = await open();
      raw.send({ type: 'hello', v: 3, token: 'good' });
      expect(await raw.next((message) => message.type === 'welcome', 2000)).toEqual(jasmine.objectContaining({ type: 'welcome' }));
      expect(await write(raw, 1)).toEqual(jasmine.objectContaining({ type: 'committed' }));
      // It is judged again once read: a peer that then stops answering is dropped as usual.
      (raw.socket as any)._socket.pause();
      await eventually(() => served!.server.connections === 0, 'the deaf peer to be dropped', 1000);
    });
  });

  describe('maxSubscriptions', () => {
    beforeEach(() => start({ maxSubscriptions: 2 }));

    it('should refuse the subscriptions past the limit with LIMIT_EXCEEDED each, and serve the others', async () => {
      const raw = await hello();
      const keyed = (sub: number, key: string): object => ({ sub, table: 't', key });
      raw.send({ type: 'subscribe', id: 1, subs: [keyed(1, 'a'), keyed(2, 'b'), keyed(3, 'c'), keyed(4, 'd')] });
      await subscribed(raw, 1);
      const errors = () => raw.received.filter((message) => message.type === 'error');
      expect(errors().map((error) => [error.id, error.sub, error.code])).toEqual([
        [1, 3, 'LIMIT_EXCEEDED'],
        [1, 4, 'LIMIT_EXCEEDED'],
      ]);
      expect(raw.received.filter((message) => message.type === 'snapshot').map((snapshot) => snapshot.sub)).toEqual([1, 2]);

      // Full: one more is refused; after an unsubscribe there is room again.
      raw.send({ type: 'subscribe', id: 2, subs: [keyed(5, 'e')] });
      await subscribed(raw, 2);
      expect(errors().at(-1)).toEqual(jasmine.objectContaining({ id: 2, sub: 5, code: 'LIMIT_EXCEEDED' }));
      raw.send({ type: 'unsubscribe', id: 3, subs: [1] });
      expect((await raw.reply(3)).type).toBe('unsubscribed');
      raw.send({ type: 'subscribe', id: 4, subs: [keyed(6, 'c')] });
      await subscribed(raw, 4);
      expect(errors().length).toBe(3);

      // Only the subscriptions served get changes.
      const server = served!.db.table('t');
      for (const key of ['a', 'd', 'e', 'b', 'c']) await server.put(key, { key });
      await eventually(() => raw.received.filter((message) => message.type === 'changes').length > 0, 'changes');
      await delay(20);
      const delivered = raw.received.filter((message) => message.type === 'changes').flatMap((message) => message.changes.map((change: any) => change.key));
      expect(delivered).toEqual(['b', 'c']);
    });
  });

  describe('the limit of 256 unanswered requests', () => {
    it('should still stop reading at 256 unanswered when malformed requests with ids were answered before them', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      await start({ authorize: (_principal: unknown, access: Access) => (access.action === 'write' ? gate.then(() => true) : true) });
      const raw = await hello();
      // 2,000 errors to requests that were never admitted: none of them is an answer to an admitted one.
      for (let id = 1; id <= 2000; id++) raw.send({ type: 'write', id, ops: 'not a list' });
      await eventually(() => raw.received.filter((message) => message.code === 'BAD_MESSAGE').length === 2000, 'the 2,000 BAD_MESSAGE replies');
      // 300 writes of 10 kB held by authorize: the server stops reading at the 256th.
      const text = 'w'.repeat(10_000);
      for (let id = 3001; id <= 3300; id++) raw.send({ type: 'write', id, ops: [putOp('ok', `k${id}`, { text })] });
      for (let id = 5001; id <= 5050; id++) raw.send({ type: 'write', id, ops: 'not a list' });
      await delay(300);
      expect(raw.received.filter((message) => message.id > 5000).length).withContext('requests read past the limit').toBe(0);
      release();
      await eventually(() => raw.received.filter((message) => message.id > 5000).length === 50, 'the rest, once some were answered');
      await eventually(() => raw.received.filter((message) => message.type === 'committed').length === 300, 'the 300 writes', 15_000);
    }, 30_000);
  });

  describe('tables a reader names', () => {
    it('should not create a table for a subscription, during or after it', async () => {
      await start({ authorize: (_principal: unknown, access: Access) => access.action === 'read' });
      await served!.db.table('real').put('a', { n: 1 });
      const raw = await hello();
      let id = 0;
      for (let round = 0; round < 20; round++) {
        const subs = Array.from({ length: 100 }, (_, i) => ({ sub: round * 100 + i + 1, table: `x${round * 100 + i}` }));
        raw.send({ type: 'subscribe', id: ++id, subs });
        await subscribed(raw, id);
        raw.send({ type: 'unsubscribe', id: ++id, subs: subs.map(({ sub }) => sub) });
        await raw.reply(id);
      }
      expect(raw.received.filter((message) => message.type === 'snapshot').length).withContext('served, empty').toBe(2000);
      expect(served!.db.tableNames()).toEqual(['real']);
      raw.send({ type: 'subscribe', id: ++id, subs: [{ sub: 9999, table: 'later' }] });
      await subscribed(raw, id);
      expect(served!.db.tableNames()).toEqual(['real']);
      await served!.db.table('later').put('k', { n: 1 });
      await eventually(() => raw.received.some((message) => message.type === 'changes'), 'the change of a table made after the subscription');
      raw.close();
      await eventually(() => served!.server.connections === 0, 'the disconnect');
      expect(served!.db.tableNames()).toEqual(['later', 'real']);
    });
  });

  describe('the limit of keys per subscription', () => {
    beforeEach(() => start());

    it('should refuse only the subscription past 1000 keys, with LIMIT_EXCEEDED, and serve the others of the request', async () => {
      const raw = await hello();
      const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
      raw.send({ type: 'subscribe', id: 1, subs: [{ sub: 1, table: 't', keys }, { sub: 2, table: 't', key: 'a' }, { sub: 3, table: 't', keys: keys.slice(1) }] });
      await subscribed(raw, 1);
      const errors = raw.received.filter((message) => message.type === 'error');
      expect(errors.map((error) => [error.id, error.sub, error.code])).toEqual([[1, 1, 'LIMIT_EXCEEDED']]);
      expect(errors[0].message).toContain('At most 1000 keys');
      expect(raw.received.filter((message) => message.type === 'snapshot').map((snapshot) => snapshot.sub)).toEqual([2, 3]);
    });
  });
});
