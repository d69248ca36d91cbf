import { SingleBar } from 'cli-progress';

/** Progress of long work on stderr: a bar when it is a terminal, nothing otherwise (stdout is data). */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

export function progress(what: string): Progress {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: `${what} [{bar}] {percentage}% {value}/{total} records`, stream: process.stderr, hideCursor: true, clearOnComplete: true });
  let started = false;
  return {
    update(done, total) {
      if (!started) bar.start(total, done);
      else bar.update(done);
      started = true;
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
