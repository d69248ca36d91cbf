import type { Storage } from '../dist/storage/storage.js';
import { describeStorage } from './helpers/storage-conformance.js';

const dist = (path: string): string => new URL(`../../dist/${path}`, import.meta.url).href;
const { MemoryStorage } = (await import(dist('storage/storage.js'))) as typeof import('../dist/storage/storage.js');
const { RocksStorage } = (await import(dist('storage/rocksdb.js'))) as typeof import('../dist/storage/rocksdb.js');

describeStorage({ name: "MemoryStorage ('memory')", durable: false, open: async (): Promise<Storage> => new MemoryStorage() });
describeStorage({ name: "RocksStorage ('sync')", durable: true, open: (dir) => RocksStorage.open(dir, true) });
describeStorage({ name: "RocksStorage ('wal')", durable: true, open: (dir) => RocksStorage.open(dir, false) });
