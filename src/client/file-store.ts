import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, RxkvError } from '../errors.js';
import { StoreImage, storeError, type ReplicaStore, type StoreBatch, type StoredReplica } from './store.js';

/** The log is rewritten as one state line once it grew past this, and past twice that state. */
const MIN_COMPACT_BYTES = 1024 * 1024;

/**
 * A persisted replica's store in one file (Node): a log of JSON lines, each save appended and
 * flushed to disk (`fdatasync`) before it resolves, rewritten as one line when it grew. A line
 * torn by a crash is the end of a save that never resolved: dropped on load. Held by one client at
 * a time (a `.lock` file beside it, taken over from a process that is gone).
 *
 * @example
 * const remote = connect('ws://localhost:8080', { persist: fileStore('./replica.jsonl') });
 */
export function fileStore(path: string): ReplicaStore {
  if (typeof path !== 'string' || path === '') throw new RxkvError(ErrorCode.INVALID_ARGUMENT, 'fileStore(path): path must be a file name.');
  return new FileStore(path);
}

class FileStore implements ReplicaStore {
  private image = new StoreImage();
  private log: FileHandle | null = null;
  private logBytes = 0;
  private compactedBytes = 0;
  private locked = false;

  constructor(private readonly path: string) {}

  async load(): Promise<StoredReplica | undefined> {
    await this.lock();
    this.image = new StoreImage();
    try {
      let text: string | null = null;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      const created = text === null;
      text ??= '';
      const lines = text.split('\n');
      // Without its newline, the last line is a save that never resolved: cut off.
      const torn = lines.pop()!;
      lines.forEach((line, at) => {
        let entry: { state?: StoredReplica; batch?: StoreBatch };
        try {
          entry = JSON.parse(line);
        } catch {
          throw new RxkvError(ErrorCode.STORE_FAILED, `${this.path}: line ${at + 1} is not JSON: this is not a replica store, or it was damaged.`);
        }
        if (entry.state !== undefined) this.restoreState(entry.state);
        else if (entry.batch !== undefined) this.image.apply(entry.batch);
      });
      const whole = Buffer.byteLength(text) - Buffer.byteLength(torn);
      this.log = await open(this.path, 'a');
      if (created) await this.syncDirectory(); // a new file's name is as durable as what it will hold
      if (torn !== '') {
        await this.log.truncate(whole);
        await this.log.datasync();
      }
      this.compactedBytes = this.logBytes = whole;
      return this.image.state();
    } catch (error) {
      await this.unlock();
      throw storeError(error, `reading ${this.path}`);
    }
  }

  async save(batch: StoreBatch): Promise<void> {
    const line = JSON.stringify({ batch }) + '\n';
    try {
      await this.log!.write(line);
      await this.log!.datasync();
    } catch (error) {
      // What a failed append left (a full disk) would join the next line: cut back to the last whole one.
      await this.log!.truncate(this.logBytes).catch(() => undefined);
      throw storeError(error, `writing ${this.path}`);
    }
    this.image.apply(batch);
    this.logBytes += Buffer.byteLength(line);
    if (this.logBytes > Math.max(MIN_COMPACT_BYTES, 2 * this.compactedBytes)) await this.compact();
  }

  async close(): Promise<void> {
    await this.log?.close();
    this.log = null;
    await this.unlock();
  }

  private restoreState(state: StoredReplica): void {
    this.image.apply({
      client: state.client,
      nextMutation: state.nextMutation,
      writes: state.writes,
      removedWrites: [],
      ...(state.history === undefined ? {} : { replica: { history: state.history, subscriptions: state.subscriptions, reset: true, records: state.records } }),
    });
  }

  /** Rewrites the log as one line of the whole state: written aside, flushed, renamed over it. */
  private async compact(): Promise<void> {
    await this.log?.close();
    this.log = null;
    const state = this.image.state();
    const text = state === undefined ? '' : JSON.stringify({ state }) + '\n';
    const aside = this.path + '.tmp';
    const file = await open(aside, 'w');
    try {
      await file.write(text);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(aside, this.path);
    await this.syncDirectory();
    this.log = await open(this.path, 'a');
    this.compactedBytes = this.logBytes = Buffer.byteLength(text);
  }

  private async syncDirectory(): Promise<void> {
    const directory = await open(dirname(this.path), 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  /** Takes the `.lock` file: refused while a live process holds it, taken over from one that is gone. */
  private async lock(): Promise<void> {
    const lockPath = this.path + '.lock';
    for (;;) {
      try {
        const file = await open(lockPath, 'wx');
        await file.write(String(process.pid));
        await file.close();
        this.locked = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw storeError(error, `locking ${this.path}`);
      }
      const holder = Number(await readFile(lockPath, 'utf8').catch(() => ''));
      if (Number.isSafeInteger(holder) && holder > 0 && alive(holder)) {
        throw new RxkvError(ErrorCode.DATABASE_LOCKED, `${this.path} is held by another client (process ${holder}${holder === process.pid ? ', this one' : ''}): close that one first.`);
      }
      await unlink(lockPath).catch(() => undefined);
    }
  }

  private async unlock(): Promise<void> {
    if (!this.locked) return;
    this.locked = false;
    await unlink(this.path + '.lock').catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
