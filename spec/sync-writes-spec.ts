import { ErrorCode } from 'rxkv';
import { CloseCode } from 'rxkv/server';
import type { RemoteDatabase } from 'rxkv/client';
import { rejectedCode } from './helpers/db.js';
import { TcpProxy } from './helpers/proxy.js';
import { RawClient, client, eventually, startServer, stopServer, until, type Served } from './helpers/sync.js';
import { removeTempDirs } from './helpers/temp.js';

const put = (key: string, value: unknown) => ({ op: 'put', table: 't', key, value });

describe('sync: exactly-once client writes', () => {
  let served: Served | undefined;
  let proxy: TcpProxy | undefined;
  const raws: RawClient[] = [];
  const remotes: RemoteDatabase[] = [];

  afterEach(async () => {
    for (const raw of raws.splice(0)) raw.close();
    for (const remote of remotes.splice(0)) await remote.close();
    await proxy?.close();
    proxy = undefined;
    await stopServer(served);
    served = undefined;
    removeTempDirs();
  });

  async function hello(name: string): Promise<RawClient> {
    const raw = await RawClient.hello(served!.url, undefined, name);
    raws.push(raw);
    return raw;
  }

  function write(raw: RawClient, id: number, message: object): Promise<any> {
    raw.send({ type: 'write', id, ...message });
    return raw.reply(id);
  }

  it('should answer a mutation number it already applied with the original seq, without applying it again', async () => {
    served = await startServer();
    const first = await hello('c1');
    const original = await write(first, 1, { m: 1, ops: [put('a', { n: 1 })] });
    expect(original).toEqual({ type: 'committed', id: 1, seq: 1 });
    await served.db.table('t').put('a', { n: 2 });
    // The same write again, on another connection of the same client, as after a lost reply.
    first.close();
    const second = await hello('c1');
    expect(await write(second, 7, { m: 1, ops: [put('a', { n: 1 })] })).toEqual({ type: 'committed', id: 7, seq: 1 });
    expect(served.db.table('t').get('a')).toEqual({ n: 2 });
    expect(served.db.seq).toBe(2);
  });

  it('should answer a refused write sent again with the same refusal, even once it would be allowed', async () => {
    let allow = false;
    served = await startServer({ authorize: () => allow });
    const raw = await hello('c1');
    const refused = await write(raw, 1, { m: 1, ops: [put('a', { n: 1 })] });
    expect(refused.code).toBe(ErrorCode.FORBIDDEN);
    allow = true;
    expect(await write(raw, 2, { m: 1, ops: [put('a', { n: 1 })] })).toEqual({ ...refused, id: 2 });
    expect(served.db.table('t').has('a')).toBeFalse();
    expect(await write(raw, 3, { m: 2, ops: [put('a', { n: 2 })] })).toEqual({ type: 'committed', id: 3, seq: jasmine.any(Number) });
  });

  it('should record a write that the database refuses, so that it fails the same way when sent again', async () => {
    served = await startServer({}, { maxValueBytes: 100 });
    const raw = await hello('c1');
    const failed = await write(raw, 1, { m: 1, ops: [put('a', { text: 'x'.repeat(200) })] });
    expect(failed.code).toBe(ErrorCode.VALUE_TOO_LARGE);
    // Sent again (here even with ops that would fit): its outcome stands, nothing is applied.
    expect(await write(raw, 2, { m: 1, ops: [put('a', { text: 'x' })] })).toEqual({ ...failed, id: 2 });
    expect(served.db.table('t').has('a')).toBeFalse();
  });

  it('should refuse, with BAD_MESSAGE and nothing applied, a mutation number without a client id, and one below what it keeps', async () => {
    served = await startServer();
    const anonymous = await RawClient.hello(served.url);
    raws.push(anonymous);
    expect((await write(anonymous, 1, { m: 1, ops: [put('a', 1)] })).code).toBe(ErrorCode.BAD_MESSAGE);
    const raw = await hello('c1');
    expect((await write(raw, 1, { m: 5, ops: [put('a', 1)] })).type).toBe('committed'); // a gap: a write the client gave up
    expect((await write(raw, 2, { m: 6, ack: 5, ops: [put('b', 1)] })).type).toBe('committed');
    // m 5 was acknowledged (ack 5) and forgotten, m 3 was never applied: neither may apply now.
    for (const m of [5, 3]) expect((await write(raw, 10 + m, { m, ops: [put('c', 1)] })).code).toBe(ErrorCode.BAD_MESSAGE);
    expect(served.db.table('t').has('c')).toBeFalse();
    for (const bad of [{ m: 0 }, { m: -1 }, { m: 1.5 }, { m: 'one' }, { m: 9, ack: 9 }, { ack: 1 }]) {
      expect((await write(raw, 50, { ...bad, ops: [put('d', 1)] })).code).withContext(JSON.stringify(bad)).toBe(ErrorCode.BAD_MESSAGE);
    }
    expect(served.db.table('t').has('d')).toBeFalse();
  });

  it('should close, with 4410, a connection whose client id another connection takes over; the client stops', async () => {
    served = await startServer();
    const remote = client(served.url);
    remotes.push(remote);
    await until(remote, 'open');
    const hijack = await RawClient.open(served.url);
    raws.push(hijack);
    // The client id is the remote's own: read it off the server's record of its first write.
    await remote.table('t').put('a', { n: 1 });
    const id = [...served.db.internalTable('#clients').keys()][0]!;
    hijack.send({ type: 'hello', v: 3, client: id });
    await until(remote, 'refused');
    expect(remote.status.reason).toContain('another connection');
    expect(CloseCode.REPLACED).toBe(4410);
    expect(await rejectedCode(remote.table('t').put('b', { n: 1 }))).toBe(ErrorCode.UNAUTHORIZED);
  });

  it("should reject a write with no answer within writeTimeout with TIMEOUT, and not send it again", async () => {
    served = await startServer();
    proxy = await TcpProxy.start(served.server.port);
    const remote = client(`ws://127.0.0.1:${proxy.port}`, { writeTimeout: 100 });
    remotes.push(remote);
    await until(remote, 'open');
    proxy.block(true);
    proxy.drop();
    const write = remote.table('t').put('late', { n: 1 });
    expect(await rejectedCode(write)).toBe(ErrorCode.TIMEOUT);
    proxy.block(false);
    await until(remote, 'open');
    await remote.table('t').put('after', { n: 2 });
    expect(served.db.table('t').has('late')).toBeFalse();
    expect(served.db.table('t').get('after')).toEqual({ n: 2 });
  });

  it('should forget the clients heard from least recently past maxClients: their old writes then apply as new', async () => {
    served = await startServer({ maxClients: 2 });
    const first = await hello('old');
    expect((await write(first, 1, { m: 1, ops: [put('a', 1)] })).seq).toBe(1);
    first.close();
    await eventually(() => served!.server.connections === 0, 'the first client to go');
    // Connected clients are kept whatever their count: those gone are forgotten first.
    for (const name of ['b', 'c', 'd']) expect((await write(await hello(name), 1, { m: 1, ops: [put(name, 1)] })).type).toBe('committed');
    await eventually(() => served!.db.internalTable('#clients').size <= 3, 'the ledger to be pruned');
    const again = await hello('old');
    expect((await write(again, 2, { m: 1, ops: [put('a', 1)] })).seq).toBeGreaterThan(1);
    expect(served.db.tableNames()).toEqual(['t']);
  });

  it('should forget, when the server starts, the clients not heard from within clientTtl: their old writes then apply as new', async () => {
    served = await startServer({ clientTtl: 1 });
    const first = await hello('gone');
    expect((await write(first, 1, { m: 1, ops: [put('a', 1)] })).seq).toBe(1);
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    // A new server on the same database prunes the ledger as it starts.
    await served.server.close();
    const { serve } = await import('rxkv/server');
    const server = await serve(served.db, { clientTtl: 1 });
    served = { ...served, server, url: `ws://127.0.0.1:${server.port}` };
    await eventually(() => served!.db.internalTable('#clients').size === 0, 'the ledger to be pruned');
    const again = await hello('gone');
    expect((await write(again, 1, { m: 1, ops: [put('a', 1)] })).seq).toBeGreaterThan(1);
  });
});
