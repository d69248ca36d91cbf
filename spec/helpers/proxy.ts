import { createServer, connect, type Server, type Socket } from 'node:net';

/** One proxied connection, and what of the server's bytes waits for the end of a WebSocket frame. */
interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** The server's HTTP upgrade response was passed on: frames follow. */
  upgraded: boolean;
  held: Buffer;
}

/**
 * A TCP proxy between clients and a server, to break connections the way networks do: `drop()`
 * cuts every connection, `stall()` stops reading what the server sends (a client that stopped
 * reading, as far as the server can tell), `blackhole()` passes nothing either way and closes
 * nothing (a path that went dead), and `cutAfter()` cuts a connection right after a chosen
 * WebSocket message from the server, `cutBefore()` right before one (the server's bytes are passed
 * on a whole frame at a time).
 */
export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private stalled = false;
  private blocked = false;
  private dead = false;
  private cut: ((text: string) => boolean) | null = null;
  private cutFirst: ((text: string) => boolean) | null = null;
  /** Every byte the server sent through the proxy, on every connection. */
  bytesFromServer = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => {
      if (proxy.blocked) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      const pair: Pair = { client, upstream, upgraded: false, held: Buffer.alloc(0) };
      proxy.pairs.add(pair);
      if (proxy.stalled) upstream.pause();
      client.on('data', (data) => {
        if (!proxy.dead) upstream.write(data);
      });
      upstream.on('data', (data) => proxy.fromServer(pair, data));
      const end = (): void => {
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Cuts every connection, both ways, without a close handshake. */
  drop(): void {
    for (const { client, upstream } of [...this.pairs]) {
      client.destroy();
      upstream.destroy();
    }
  }

  /** Refuses (or accepts again) new connections: a network that is down. */
  block(on: boolean): void {
    this.blocked = on;
  }

  /** Stops (or resumes) reading from the server, for every connection present and to come. */
  stall(on: boolean): void {
    this.stalled = on;
    for (const { upstream } of this.pairs) {
      if (on) upstream.pause();
      else upstream.resume();
    }
  }

  /** Passes nothing (or everything again) either way, on every connection present and to come, and closes none. */
  blackhole(on: boolean): void {
    this.dead = on;
  }

  /**
   * Cuts the connection that next carries a server message `match`es, right after that message:
   * the client gets it whole, and nothing after it.
   */
  cutAfter(match: (text: string) => boolean): void {
    this.cut = match;
  }

  /**
   * Cuts the connection that next carries a server message `match`es, right before that message:
   * the client gets everything before it, and neither it nor anything after.
   */
  cutBefore(match: (text: string) => boolean): void {
    this.cutFirst = match;
  }

  close(): Promise<void> {
    this.drop();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private fromServer(pair: Pair, data: Buffer): void {
    if (this.dead) return;
    this.bytesFromServer += data.length;
    pair.held = pair.held.length === 0 ? data : Buffer.concat([pair.held, data]);
    let at = 0;
    if (!pair.upgraded) {
      const end = pair.held.indexOf('\r\n\r\n');
      if (end === -1) return;
      at = end + 4;
      pair.upgraded = true;
    }
    for (;;) {
      const frame = frameAt(pair.held, at);
      if (frame === undefined) break;
      if (this.cutFirst !== null && frame.text !== undefined && this.cutFirst(frame.text)) {
        this.cutFirst = null;
        return cutOff(pair, at);
      }
      at = frame.end;
      if (this.cut !== null && frame.text !== undefined && this.cut(frame.text)) {
        this.cut = null;
        return cutOff(pair, at);
      }
    }
    if (at > 0) {
      pair.client.write(pair.held.subarray(0, at));
      pair.held = pair.held.subarray(at);
    }
  }
}

/** Passes on the server's bytes up to `end`, then cuts the connection both ways. */
function cutOff({ client, upstream, held }: Pair, end: number): void {
  upstream.destroy();
  client.write(held.subarray(0, end), () => client.destroy());
}

/** The WebSocket frame starting at `at`, if it is all there: where it ends, and its text for a text frame. */
function frameAt(buffer: Buffer, at: number): { end: number; text: string | undefined } | undefined {
  if (buffer.length < at + 2) return undefined;
  const opcode = buffer[at]! & 0x0f;
  const masked = (buffer[at + 1]! & 0x80) !== 0;
  let length = buffer[at + 1]! & 0x7f;
  let offset = at + 2;
  if (length === 126) {
    if (buffer.length < offset + 2) return undefined;
    length = buffer.readUInt16BE(offset);
    offset += 2;
  } else if (length === 127) {
    if (buffer.length < offset + 8) return undefined;
    length = Number(buffer.readBigUInt64BE(offset));
    offset += 8;
  }
  if (masked) offset += 4; // the server never masks; a client frame would
  const end = offset + length;
  if (buffer.length < end) return undefined;
  return { end, text: opcode === 1 ? buffer.toString('utf8', offset, end) : undefined };
}
