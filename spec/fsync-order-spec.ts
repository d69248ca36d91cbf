// Fsync before acknowledgement, read off the system calls: the child writes records with many
// writes in flight under `strace -f`, and marks every acknowledgement with a write(2) to stdout.
// For every acknowledged key, the log must show the WAL write that carries the key, then a sync
// of that WAL file that began after that write had returned and returned before the
// acknowledgement was marked. Under ptrace a thread is stopped at each traced syscall's entry and
// exit until strace has logged it, so the log's order follows causality across threads: the
// marker of an acknowledgement cannot be logged before the exit of the sync that let it happen.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseStrace, type Call } from './helpers/strace.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const CHILD = fileURLToPath(new URL('./faults/fsync-child.js', import.meta.url));
const RECORDS = 3000;
const IN_FLIGHT = 64;

const BLOCK = 32768; // RocksDB's WAL block
const HEADER = 7; // a WAL fragment's header (not a recyclable log)

interface Check {
  acks: number;
  /** WAL syncs (fdatasync or fsync of a .log file) from the first write to the last acknowledgement. */
  syncs: number;
  /** Acknowledgements with no WAL write of their key before them, or no WAL sync between the two. */
  violations: { key: string; reason: string }[];
}

/**
 * Checks the order write -> sync -> acknowledgement for every acknowledged key. A WAL file is a
 * stream of 32 KiB blocks each beginning with a fragment header, so a key may straddle two writes
 * and a header: keys are looked for in the file's bytes with the headers taken out, and the write
 * that carried a key's last byte is the one the key waited for.
 */
function checkOrder(calls: Call[], dir: string): Check {
  const isWal = (path: string) => path.startsWith(dir + '/') && /\/\d+\.log$/.test(path);
  const walWrites = new Map<string, Call[]>();
  const walSyncs = new Map<string, Call[]>();
  const acks: { key: string; at: number }[] = [];
  let begin = 0;
  for (const call of calls) {
    if (call.name === 'write' && call.fd === 1 && call.data !== null) {
      const text = call.data.toString('utf8');
      if (text.startsWith('ack ')) acks.push({ key: text.slice(4).trim(), at: call.start });
      else if (text.startsWith('begin ')) begin = call.start;
    } else if (isWal(call.path)) {
      if (call.name === 'write' || call.name === 'pwrite64' || call.name === 'writev' || call.name === 'pwritev') {
        if (call.name !== 'write') throw new Error(`the WAL was written with ${call.name}: teach the checker its offsets`);
        if (call.cut) throw new Error('strace cut a WAL write short: raise -s');
        if (call.result !== call.data!.length) throw new Error(`a short or failed WAL write: ${call.result} of ${call.data!.length}`);
        (walWrites.get(call.path) ?? walWrites.set(call.path, []).get(call.path)!).push(call);
      } else if ((call.name === 'fdatasync' || call.name === 'fsync') && call.result === 0) {
        (walSyncs.get(call.path) ?? walSyncs.set(call.path, []).get(call.path)!).push(call);
      }
    }
  }
  // Where each key's last byte went: the WAL file and the write that carried it.
  const carriedBy = new Map<string, { path: string; write: Call }>();
  for (const [path, writes] of walWrites) {
    const file = Buffer.concat(writes.map((write) => write.data!));
    const payload: Buffer[] = [];
    for (let block = 0; block * BLOCK < file.length; block++) payload.push(file.subarray(block * BLOCK + HEADER, (block + 1) * BLOCK));
    const text = Buffer.concat(payload).toString('latin1');
    const ends: number[] = []; // the file offset just past each write
    let offset = 0;
    for (const write of writes) ends.push((offset += write.data!.length));
    for (const { key } of acks) {
      if (carriedBy.has(key)) continue;
      const found = text.indexOf(key);
      if (found < 0) continue;
      const last = found + key.length - 1; // in the payload
      const fileOffset = Math.floor(last / (BLOCK - HEADER)) * BLOCK + HEADER + (last % (BLOCK - HEADER));
      const index = ends.findIndex((end) => end > fileOffset);
      carriedBy.set(key, { path, write: writes[index]! });
    }
  }
  const violations: Check['violations'] = [];
  for (const { key, at } of acks) {
    const carried = carriedBy.get(key);
    if (carried === undefined) {
      violations.push({ key, reason: 'no WAL write holds the key' });
    } else if (!(carried.write.end <= at)) {
      violations.push({ key, reason: 'acknowledged before its WAL write returned' });
    } else {
      const synced = (walSyncs.get(carried.path) ?? []).some((sync) => sync.start >= carried.write.end && sync.end <= at);
      if (!synced) violations.push({ key, reason: 'no sync of the WAL between its write and its acknowledgement' });
    }
  }
  const last = acks[acks.length - 1]?.at ?? 0;
  const syncs = [...walSyncs.values()].flat().filter((sync) => sync.start >= begin && sync.end <= last).length;
  return { acks: acks.length, syncs, violations };
}

const hex = (text: string) => [...Buffer.from(text)].map((byte) => '\\x' + byte.toString(16).padStart(2, '0')).join('');

/** A hand-made log in the format `traced` asks for: a WAL write (a 7-byte block header, then records), its sync split over two lines by another thread's call, two acknowledgements. */
function handMadeLog(dir: string, order: 'sync first' | 'ack first'): string {
  const wal = `23<${hex(dir + '/000004.log')}>`;
  const write = (fd: string, text: string) => `write(${fd}, "${hex(text)}", ${text.length}) = ${text.length} <0.000005>`;
  const out = (text: string) => write(`1<${hex('/dev/null')}>`, text);
  const ackA = `100 1700000000.${order === 'sync first' ? '001000' : '000400'} ${out('ack key-a-1\n')}`;
  return [
    `100 1700000000.000100 ${out('begin k\n')}`,
    `101 1700000000.000200 ${write(wal, 'header7' + 'rt\x00key-a-1{}rt\x00key-b-2{}')}`,
    `101 1700000000.000300 fdatasync(${wal} <unfinished ...>`,
    ...(order === 'ack first' ? [ackA] : []),
    `100 1700000000.000500 ${out('noise\n')}`,
    `101 1700000000.000900 <... fdatasync resumed>) = 0 <0.000600>`,
    ...(order === 'sync first' ? [ackA] : []),
    `100 1700000000.001100 ${out('ack key-b-2\n')}`,
    `100 1700000000.001200 +++ exited with 0 +++`,
  ].join('\n');
}

/** Runs the child under strace and returns the parsed log. */
async function traced(dir: string, durability: 'sync' | 'wal'): Promise<Call[]> {
  const log = join(dir, 'strace.log');
  const db = join(dir, 'db');
  const nonce = `fsk${Math.random().toString(36).slice(2, 8)}`;
  const args = ['-f', '-qq', '-ttt', '-T', '-y', '-xx', '-s', String(1 << 22), '-e', 'trace=write,writev,pwrite64,pwritev,fdatasync,fsync', '-o', log];
  const child = spawn('strace', [...args, process.execPath, CHILD, db, durability, String(RECORDS), String(IN_FLIGHT), nonce], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
  return parseStrace(readFileSync(log, 'latin1'));
}

describe('Fsync before acknowledgement (strace)', () => {
  afterEach(removeTempDirs);

  beforeAll(() => {
    if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace is needed (apt-get install -y strace)');
  });

  it("should join strace's unfinished and resumed lines, and tell an acknowledgement after its sync from one before", () => {
    const dir = '/tmp/rxkv-fsync-x/db';
    const calls = parseStrace(handMadeLog(dir, 'sync first'));
    const sync = calls.find((call) => call.name === 'fdatasync')!;
    expect(sync).toEqual(jasmine.objectContaining({ pid: 101, path: dir + '/000004.log', result: 0, start: 1700000000000300, end: 1700000000000900 }));
    expect(checkOrder(calls, dir)).toEqual({ acks: 2, syncs: 1, violations: [] });
    const early = checkOrder(parseStrace(handMadeLog(dir, 'ack first')), dir);
    expect(early.violations).toEqual([{ key: 'key-a-1', reason: 'no sync of the WAL between its write and its acknowledgement' }]);
  });

  it("should acknowledge every write only after a sync of the WAL that followed its write, several writes a sync, under durability 'sync'", async () => {
    const dir = tempDir('rxkv-fsync');
    const check = checkOrder(await traced(dir, 'sync'), join(dir, 'db'));
    const perSync = check.acks / check.syncs;
    console.log(`\n[fsync-order] 'sync': ${check.acks} acknowledgements, ${check.syncs} WAL syncs, ${perSync.toFixed(1)} acknowledgements a sync (${IN_FLIGHT} in flight), ${check.violations.length} violations`);
    expect(check.acks).toBe(RECORDS);
    expect(check.violations.length).withContext(JSON.stringify(check.violations.slice(0, 3))).toBe(0);
    // Group commit: one sync serves many acknowledgements.
    expect(perSync).toBeGreaterThan(4);
  }, 60_000);

  it("should find acknowledgements with no sync before them under durability 'wal' (the negative control)", async () => {
    const dir = tempDir('rxkv-fsync');
    const check = checkOrder(await traced(dir, 'wal'), join(dir, 'db'));
    const unsynced = check.violations.filter((violation) => violation.reason.startsWith('no sync')).length;
    console.log(`\n[fsync-order] 'wal': ${check.acks} acknowledgements, ${check.syncs} WAL syncs, ${unsynced} acknowledged with no sync between write and acknowledgement`);
    expect(check.acks).toBe(RECORDS);
    // The checker finds the WAL writes (so it is looking at the right file) and no sync after them.
    expect(check.violations.filter((violation) => violation.reason.startsWith('no WAL write'))).toEqual([]);
    expect(unsynced).toBeGreaterThan(RECORDS / 2);
  }, 60_000);
});
