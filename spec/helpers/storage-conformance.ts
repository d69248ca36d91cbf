/**
 * The conformance suite of rxkv's storage interface: what the engine relies on of a backend, run
 * against each backend (see storage-conformance-spec.ts). A new backend passes it before it is used.
 */
import type { Storage, StorageBatch } from '../../dist/storage/storage.js';
import type { Entry as EntryType } from '../../dist/model/record.js';
import { removeTempDirs, tempDir } from './temp.js';

const dist = (path: string): string => new URL(`../../../dist/${path}`, import.meta.url).href;
const { encodeEntry } = (await import(dist('storage/codec.js'))) as typeof import('../../dist/storage/codec.js');
const { Entry } = (await import(dist('model/record.js'))) as typeof import('../../dist/model/record.js');

export interface StorageBackend {
  readonly name: string;
  /** Opens the backend's storage in `dir`. */
  open(dir: string): Promise<Storage>;
  /** Whether what it wrote is loaded by the next storage opened on the same directory. */
  readonly durable: boolean;
}

const write = (batch: StorageBatch): Promise<void> => new Promise((resolve, reject) => batch.write((error) => (error ? reject(error) : resolve())));
const encoded = (value: unknown, version: number, created = 1000, updated = 2000): string => encodeEntry(new Entry(value as never, created, updated, version), 1 << 20);
const plain = (entry: EntryType): object => ({ value: entry.value, created: entry.created, updated: entry.updated, version: entry.version });

export function describeStorage(backend: StorageBackend): void {
  describe(`Storage conformance: ${backend.name}`, () => {
    let dir: string;
    let open: Storage[];

    beforeEach(() => {
      dir = tempDir('rxkv-storage');
      open = [];
    });

    afterEach(async () => {
      for (const storage of open) await storage.close().catch(() => undefined);
      removeTempDirs();
    });

    async function openStorage(): Promise<Storage> {
      const storage = await backend.open(dir);
      open.push(storage);
      return storage;
    }

    async function reopen(storage: Storage): Promise<Storage> {
      await storage.close();
      open.splice(open.indexOf(storage), 1);
      return openStorage();
    }

    it('should load a new store empty, at seq 0, with nothing missing from its commit record', async () => {
      const loaded = await (await openStorage()).load();
      expect(loaded.seq).toBe(0);
      expect(loaded.history).toBeUndefined();
      expect(loaded.tables.size).toBe(0);
      expect(loaded.commits).toEqual({ flushed: 0, markers: [], watermark: 0 });
      expect(loaded.deletes.size).toBe(0);
      expect(loaded.deletesFloor).toBeUndefined();
    });

    it('should call back once, without an error, for a batch it wrote', async () => {
      const storage = await openStorage();
      const batch = storage.batch();
      batch.put('t', 'a', encoded({ n: 1 }, 1));
      batch.mark(1, 1);
      const calls: (Error | null)[] = [];
      await new Promise<void>((resolve) =>
        batch.write((error) => {
          calls.push(error);
          resolve();
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(calls).toEqual([null]);
      storage.published(1);
    });

    it('should take a checkpoint and a probe of writability, and close', async () => {
      const storage = await openStorage();
      await storage.checkpoint(0);
      await expectAsync(storage.writable(1000)).toBeResolved();
      await expectAsync(storage.close()).toBeResolved();
      open = [];
    });

    if (!backend.durable) return;

    it('should load back every table written, keys in JavaScript string order, with the records and their metadata', async () => {
      const storage = await openStorage();
      const batch = storage.batch();
      // U+FFFF sorts after U+1F600 in JavaScript (UTF-16) order, before it in UTF-8 byte order.
      for (const [key, version] of [['b', 1], ['a', 2], ['\u{1F600}', 3], ['\uFFFF', 4], ['k\u0000with nul', 5]] as const) {
        batch.put('people', key, encoded({ key }, version, 100 + version, 200 + version));
      }
      batch.put('other.table', 'x', encoded([1, 'two', null, { three: true }], 6));
      batch.mark(1, 6);
      await write(batch);
      storage.published(6);
      const loaded = await (await reopen(storage)).load();
      expect(loaded.seq).toBe(6);
      expect([...loaded.tables.keys()].sort()).toEqual(['other.table', 'people']);
      const people = loaded.tables.get('people')!;
      expect(people.keys).toEqual(['a', 'b', 'k\u0000with nul', '\u{1F600}', '\uFFFF']);
      expect([...people.entries.keys()].sort()).toEqual(people.keys);
      expect(plain(people.entries.get('\uFFFF')!)).toEqual({ value: { key: '\uFFFF' }, created: 104, updated: 204, version: 4 });
      expect(Object.isFrozen(people.entries.get('a')!.value)).toBeTrue();
      expect(plain(loaded.tables.get('other.table')!.entries.get('x')!)).toEqual({ value: [1, 'two', null, { three: true }], created: 1000, updated: 2000, version: 6 });
    });

    it('should apply batches in the order written: a later put wins, a delete removes, a table emptied is gone', async () => {
      const storage = await openStorage();
      const first = storage.batch();
      first.put('t', 'a', encoded({ v: 1 }, 1));
      first.put('gone', 'only', encoded({ v: 1 }, 1));
      first.mark(1, 1);
      await write(first);
      const second = storage.batch();
      second.put('t', 'a', encoded({ v: 2 }, 2));
      second.del('gone', 'only');
      second.del('t', 'never-written');
      second.mark(2, 3);
      await write(second);
      const loaded = await (await reopen(storage)).load();
      expect(loaded.seq).toBe(3);
      expect([...loaded.tables.keys()]).toEqual(['t']);
      expect(loaded.tables.get('t')!.entries.get('a')!.value).toEqual({ v: 2 });
    });

    it('should keep the deletes recorded, and forget those it is told to with their floor', async () => {
      let storage = await openStorage();
      const first = storage.batch();
      first.recordDelete('t', 'a', 3, 1003);
      first.recordDelete('t', 'b\u0000c', 4, 1004);
      first.recordDelete('u', 'a', 5, 1005);
      first.mark(1, 5);
      await write(first);
      storage = await reopen(storage);
      let loaded = await storage.load();
      expect(loaded.deletesFloor).toBeUndefined();
      expect([...loaded.deletes.get('t')!]).toEqual([['a', { seq: 3, ts: 1003 }], ['b\u0000c', { seq: 4, ts: 1004 }]]);
      const second = storage.batch();
      second.forgetDeletes([['t', 'a'], ['u', 'a']], 5);
      second.recordDelete('t', 'a', 6, 1006); // deleted again after: the later write wins
      second.mark(6, 6);
      await write(second);
      loaded = await (await reopen(storage)).load();
      expect(loaded.deletesFloor).toBe(5);
      expect([...loaded.deletes.keys()]).toEqual(['t']);
      expect([...loaded.deletes.get('t')!]).toEqual([['a', { seq: 6, ts: 1006 }], ['b\u0000c', { seq: 4, ts: 1004 }]]);
    });

    it('should keep the history started last', async () => {
      let storage = await openStorage();
      await storage.startHistory('first');
      await storage.startHistory('second');
      storage = await reopen(storage);
      expect((await storage.load()).history).toBe('second');
    });

    it('should keep a marker per batch since the last checkpoint, and drop those a checkpoint covers', async () => {
      let storage = await openStorage();
      for (const [firstSeq, lastSeq] of [[1, 2], [3, 3], [4, 7]] as const) {
        const batch = storage.batch();
        batch.put('t', `k${lastSeq}`, encoded({}, lastSeq));
        batch.mark(firstSeq, lastSeq);
        await write(batch);
        storage.published(lastSeq);
      }
      storage = await reopen(storage);
      const loaded = await storage.load();
      expect(loaded.commits.markers).toEqual([[1, 2], [3, 3], [4, 7]]);
      await storage.checkpoint(7);
      const after = await (await reopen(storage)).load();
      expect(after.commits.flushed).toBe(7);
      expect(after.commits.markers).toEqual([]);
      expect(after.seq).toBe(7);
    });
  });
}
