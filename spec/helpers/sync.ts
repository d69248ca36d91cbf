import { firstValueFrom, filter, timeout } from 'rxjs';
import WebSocket from 'ws';
import { open, type Database, type OpenOptions } from 'rxkv';
import { serve, type ServeOptions, type SyncServer } from 'rxkv/server';
import { connect, type ConnectOptions, type RemoteDatabase, type ConnectionState } from 'rxkv/client';
import { tempDir } from './temp.js';

export interface Served {
  db: Database;
  dir: string;
  server: SyncServer;
  url: string;
}

/** A database in a temp dir, served on a loopback port. */
export async function startServer(options: ServeOptions<any> = {}, openOptions: OpenOptions = {}): Promise<Served> {
  const dir = tempDir();
  const db = await open(dir, openOptions);
  const server = await serve(db, options);
  return { db, dir, server, url: `ws://127.0.0.1:${server.port}` };
}

export async function stopServer(served: Served | undefined): Promise<void> {
  if (served === undefined) return;
  await served.server.close();
  await served.db.close();
}

/** A client with fast reconnects, for specs. */
export function client(url: string, options: ConnectOptions = {}): RemoteDatabase {
  return connect(url, { reconnect: { minDelay: 5, maxDelay: 50 }, ...options });
}

export function until(remote: RemoteDatabase, state: ConnectionState, ms = 5000): Promise<unknown> {
  return firstValueFrom(remote.status$.pipe(filter((status) => status.state === state), timeout(ms)));
}

/** Waits until `check` holds (polled), or fails with `what`. */
export async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A raw protocol connection: JSON in, JSON out, for specs of the wire itself. */
export class RawClient {
  readonly received: any[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.received.push(JSON.parse(data.toString()));
      this.wake();
    });
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.wake();
    });
  }

  static async open(url: string, options: WebSocket.ClientOptions = {}): Promise<RawClient> {
    const socket = new WebSocket(url, options);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** Opens and says hello (as `client`, when given); resolves once welcomed. */
  static async hello(url: string, token?: string, client?: string): Promise<RawClient> {
    const raw = await RawClient.open(url);
    raw.send({ type: 'hello', v: 3, ...(token === undefined ? {} : { token }), ...(client === undefined ? {} : { client }) });
    await raw.next((message) => message.type === 'welcome');
    return raw;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message received (already, or later) that matches. */
  async next(match: (message: any) => boolean, ms = 5000): Promise<any> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.closeCode !== undefined) throw new Error(`closed (${this.closeCode} ${this.closeReason}) before the message came`);
      if (Date.now() > deadline) throw new Error('timed out waiting for a message');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  reply(id: number): Promise<any> {
    return this.next((message) => message.id === id && message.type !== 'snapshot');
  }

  async closed(ms = 5000): Promise<number> {
    const deadline = Date.now() + ms;
    while (this.closeCode === undefined) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the close');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.closeCode;
  }

  close(): void {
    this.socket.terminate();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
