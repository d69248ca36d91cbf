import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between clients and a server, to break connections the way networks do: `drop()`
 * cuts every connection, `stall()` stops reading what the server sends (a client that stopped
 * reading, as far as the server can tell).
 */
export class TcpProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private stalled = false;
  private blocked = false;

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
      const pair: [Socket, Socket] = [client, upstream];
      proxy.pairs.add(pair);
      if (proxy.stalled) upstream.pause();
      client.pipe(upstream);
      upstream.pipe(client);
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
    for (const [client, upstream] of [...this.pairs]) {
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
    for (const [, upstream] of this.pairs) {
      if (on) {
        upstream.unpipe();
        upstream.pause();
      } else {
        upstream.pipe(this.clientOf(upstream)!);
        upstream.resume();
      }
    }
  }

  close(): Promise<void> {
    this.drop();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private clientOf(upstream: Socket): Socket | undefined {
    for (const [client, up] of this.pairs) if (up === upstream) return client;
    return undefined;
  }
}
