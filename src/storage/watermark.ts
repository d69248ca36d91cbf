import { open as openFile, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

const FILE = 'COMMITTED';
const EVERY_MS = 1000;

/** The last published seq the watermark file holds (0 when there is none). */
export async function readWatermark(dir: string): Promise<number> {
  try {
    return Number((await readFile(join(dir, FILE), 'utf8')).trim()) || 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

/**
 * A file outside RocksDB holding the last published seq, rewritten (write, sync, rename) at most
 * once a second while commits go on: if the WAL later comes back shorter than this, acknowledged
 * commits were lost at its tail, which the commit markers alone cannot show.
 */
export class Watermark {
  private latest = 0;
  private written = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  note(seq: number): void {
    this.latest = seq;
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        // A watermark that cannot be written (disk full) only weakens tail detection until the
        // next write succeeds; the commits themselves are durable in RocksDB.
        this.flush().catch(() => undefined);
      }, EVERY_MS);
      this.timer.unref();
    }
  }

  /** Writes the latest seq now (and waits for any write under way). */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const seq = this.latest;
    this.writing = this.writing.catch(() => undefined).then(async () => {
      if (seq <= this.written) return;
      const temporary = join(this.dir, FILE + '.tmp');
      const file = await openFile(temporary, 'w');
      try {
        await file.writeFile(String(seq));
        await file.datasync();
      } finally {
        await file.close();
      }
      await rename(temporary, join(this.dir, FILE));
      // The rename is durable only once the directory is synced too.
      const directory = await openFile(this.dir, 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      this.written = seq;
    });
    return this.writing;
  }

  /** Starts over at `seq` (after opening, or salvaging what survived). */
  async reset(seq: number): Promise<void> {
    this.latest = seq;
    this.written = -1;
    await this.flush();
  }
}
