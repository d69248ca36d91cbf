import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp.js';

const CHILD = fileURLToPath(new URL('./sync-server-child.js', import.meta.url));

/** The sync server, in a child process. */
export class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(options: object): Promise<ServerProcess> {
    const child = fork(CHILD, [tempDir(), JSON.stringify(options)], { execArgv: ['--expose-gc'] });
    const [ready] = (await once(child, 'message')) as [{ port: number }];
    return new ServerProcess(child, ready.port);
  }

  async ask<T>(message: object): Promise<T> {
    const answer = once(this.child, 'message');
    this.child.send(message);
    return ((await answer) as [T])[0];
  }

  async memory(): Promise<number> {
    const { heapUsed, arrayBuffers, external } = await this.ask<{ heapUsed: number; arrayBuffers: number; external: number }>({ memory: true });
    return heapUsed + Math.max(arrayBuffers, external);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send({ stop: true });
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  }
}
