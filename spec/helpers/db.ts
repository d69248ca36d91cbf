import { open, RxkvError, type Database, type Durability } from 'rxkv';
import { tempDir } from './temp.js';

export const DURABILITIES: readonly Durability[] = ['sync', 'wal', 'memory'];

/** Opens a database in a fresh temp directory. */
export async function openTemp(durability: Durability = 'sync'): Promise<{ db: Database; dir: string }> {
  const dir = tempDir();
  return { db: await open(dir, { durability }), dir };
}

/** The `code` of the RxkvError that `thunk` throws synchronously (fails the spec otherwise). */
export function thrownCode(thunk: () => unknown): string | undefined {
  try {
    const result = thunk();
    if (result instanceof Promise) result.catch(() => undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(RxkvError);
    return (error as RxkvError).code;
  }
  fail('expected a synchronous RxkvError');
  return undefined;
}

/** The `code` of the RxkvError a promise rejects with. */
export async function rejectedCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RxkvError);
    return (error as RxkvError).code;
  }
  fail('expected the promise to reject with an RxkvError');
  return undefined;
}
