// Power loss, simulated. A child writes with many writes in flight and reports each
// acknowledgement; strace kills it (SIGKILL) as it enters its Nth fdatasync, for a sweep of N that
// covers creating the database and many commits. A kill alone is a process crash: the kernel
// keeps what was written and not synced. A power cut also loses that, so each kill is checked
// three ways:
// - the directory as the kill left it (a process crash at the worst moment);
// - a copy with every WAL file cut back to the length it had at its last completed sync, read off
//   the strace log (the WAL's unsynced tail lost, everything else as the kill left it);
// - where loop devices work: the database on a fresh loop-mounted ext4, whose backing file is
//   copied right after the kill, then mounted and opened. What the backing file holds is what
//   the filesystem sent to its block device: data that was written and not synced still sits in
//   the mounted filesystem's page cache and is not in the copy.
// Nothing acknowledged may be missing. The negative controls run 'wal' durability, which never
// syncs its WAL, under the same power cuts (killed after some acknowledgements): it must lose
// acknowledged writes, so the checks can fail.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { open, RxkvError } from 'rxkv';
import { parseStrace } from './helpers/strace.js';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const CHILD = fileURLToPath(new URL('./faults/power-loss-child.js', import.meta.url));
const IN_FLIGHT = 32;
/** The sweep: kill at the Nth fdatasync of the thread pool's one thread. */
const SWEEP = Array.from({ length: 40 }, (_, i) => i + 1);
const LOOP_SWEEP = SWEEP.filter((n) => n % 3 === 1);
/** The negative controls are killed after this many acknowledgements. */
const WAL_ACKS = 2000;

type Kill = { atSync: number } | { afterAcks: number };

interface Run {
  acked: string[];
  rejected: number;
  /** Each WAL file's length at its last completed sync (0 when never synced). */
  walSynced: Map<string, number>;
  /** The file whose fdatasync the kill interrupted, its digits replaced by '#' ('#.log', 'MANIFEST-#'), or null. */
  killedIn: string | null;
}

/**
 * Runs the child under strace until it is killed. With UV_THREADPOOL_SIZE=1 every RocksDB write
 * and its WAL sync run on one thread, on which strace counts fdatasync calls: "when=N" is then the
 * Nth sync of the database (those of creating it included). strace logs the WAL writes and syncs
 * so that the length each WAL file had at its last completed sync is known.
 */
async function runUntilKilled(dir: string, durability: 'sync' | 'wal', kill: Kill, logDir: string): Promise<Run> {
  const log = join(logDir, `strace-${Math.random().toString(36).slice(2)}.log`);
  const inject = 'atSync' in kill ? ['-e', `inject=fdatasync:signal=SIGKILL:when=${kill.atSync}`] : [];
  const args = ['-f', '-qq', '-ttt', '-T', '-y', '-xx', '-s', '0', '-e', 'trace=write,fdatasync,fsync', ...inject, '-o', log];
  const child = spawn('strace', [...args, process.execPath, CHILD, dir, durability, String(IN_FLIGHT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
  });
  const run: Run = { acked: [], rejected: 0, walSynced: new Map(), killedIn: null };
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const drained = new Promise((resolve) => lines.once('close', resolve));
  let pid = 0;
  lines.on('line', (line) => {
    const [kind, text] = line.split(' ') as [string, string];
    if (kind === 'ready') pid = Number(text);
    else if (kind === 'a') {
      run.acked.push(text);
      if ('afterAcks' in kill && run.acked.length === kill.afterAcks && pid > 0) process.kill(pid, 'SIGKILL');
    } else if (kind === 'r') run.rejected++;
  });
  await exited;
  await drained;
  const text = readFileSync(log, 'latin1');
  rmSync(log);
  // strace reports the end of the child's main thread; the child must have died of SIGKILL.
  if (!/\+\+\+ killed by SIGKILL( \(core dumped\))? \+\+\+/.test(text)) throw new Error(`the child was not killed (${JSON.stringify(kill)})`);
  const calls = parseStrace(text).sort((a, b) => a.start - b.start);
  const interrupted = calls.find((call) => call.name === 'fdatasync' && Number.isNaN(call.result));
  if (interrupted !== undefined) run.killedIn = interrupted.path.slice(interrupted.path.lastIndexOf('/') + 1).replace(/\d+/g, '#');
  if ('atSync' in kill && run.killedIn === null) throw new Error(`the kill at fdatasync ${kill.atSync} came elsewhere`);
  const written = new Map<string, { call: { end: number }; bytes: number }[]>();
  for (const call of calls) {
    if (!call.path.startsWith(dir + '/') || !call.path.endsWith('.log')) continue;
    if (call.name === 'write' && call.result > 0) {
      (written.get(call.path) ?? written.set(call.path, []).get(call.path)!).push({ call, bytes: call.result });
    } else if ((call.name === 'fdatasync' || call.name === 'fsync') && call.result === 0) {
      const before = (written.get(call.path) ?? []).filter((write) => write.call.end <= call.start);
      run.walSynced.set(call.path, before.reduce((sum, write) => sum + write.bytes, 0));
    }
  }
  for (const path of written.keys()) if (!run.walSynced.has(path)) run.walSynced.set(path, 0);
  return run;
}

/** Copies `dir` to `to`, every WAL file cut back to what its last completed sync covered. */
function copyWithSyncedWal(dir: string, to: string, run: Run): void {
  cpSync(dir, to, { recursive: true });
  for (const [path, length] of run.walSynced) {
    const copy = join(to, path.slice(dir.length + 1));
    if (existsSync(copy)) truncateSync(copy, length);
  }
}

/** What reopening found: the acknowledged keys missing, the records there; an open that fails gives its error. */
interface Reopened {
  missing: number;
  found: number;
  error?: string;
}

async function reopen(dir: string, durability: 'sync' | 'wal', acked: string[]): Promise<Reopened> {
  let db;
  try {
    db = await open(dir, { durability });
  } catch (error) {
    return { missing: NaN, found: NaN, error: error instanceof RxkvError ? error.code : String(error) };
  }
  try {
    const table = db.table('p');
    return { missing: acked.filter((key) => !table.has(key)).length, found: table.size };
  } finally {
    await db.close();
  }
}

interface Result {
  /** The kill point, or the acknowledgements after which the child was killed. */
  n: number;
  acked: number;
  /** Reopened as the kill left it (a process crash). */
  asLeft: Reopened;
  /** Reopened after the simulated power cut. */
  cut: Reopened;
}

const sum = (results: Result[], of: (result: Result) => number) => results.reduce((total, result) => total + of(result), 0);
/** The results that lost an acknowledged write or failed to open. */
const failed = (results: Result[]) => results.filter((result) => result.asLeft.missing !== 0 || result.cut.missing !== 0);

function sh(command: string, args: string[]): string | null {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) return `${command}: ${result.error.message}`;
  return result.status === 0 ? null : `${command} ${args.join(' ')}: ${(result.stderr || result.stdout).trim() || `exit ${result.status}`}`;
}

/** A fresh ext4 filesystem on a loop device, whose backing file can be copied at any moment. */
class LoopFs {
  readonly image: string;
  readonly mount: string;
  readonly copyImage: string;
  readonly copyMount: string;
  private mounted: string[] = [];

  constructor(readonly root: string) {
    this.image = join(root, 'fs.img');
    this.mount = join(root, 'fs');
    this.copyImage = join(root, 'copy.img');
    this.copyMount = join(root, 'copy');
    mkdirSync(this.mount);
    mkdirSync(this.copyMount);
  }

  /** Why loop-mounted filesystems cannot be used here, or null when they can (it mounts and unmounts one to see). */
  static unavailable(): string | null {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    if (process.getuid?.() !== 0) return 'not root: mounting needs root';
    for (const tool of ['losetup', 'mkfs.ext4', 'mount', 'umount']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
    }
    const free = sh('losetup', ['-f']);
    if (free !== null) return `no free loop device (${free})`;
    const fs = new LoopFs(mkdtempSync(join(tmpdir(), 'rxkv-loop-probe-')));
    try {
      return fs.fresh();
    } finally {
      fs.dispose();
    }
  }

  /** Unmounts what is mounted, makes a new 32 MiB ext4 filesystem and mounts it; an error message or null. */
  fresh(): string | null {
    this.unmountAll();
    rmSync(this.image, { force: true });
    writeFileSync(this.image, '');
    truncateSync(this.image, 32 << 20);
    return sh('mkfs.ext4', ['-q', '-F', this.image]) ?? this.mountImage(this.image, this.mount);
  }

  /**
   * The power cut: copies the backing file as it is now (what the block device has received) and
   * mounts the copy; the journal is replayed as after a reboot.
   */
  cut(): string | null {
    copyFileSync(this.image, this.copyImage);
    return this.mountImage(this.copyImage, this.copyMount);
  }

  private mountImage(image: string, at: string): string | null {
    const error = sh('mount', ['-o', 'loop', image, at]);
    if (error === null) this.mounted.push(at);
    return error;
  }

  unmountAll(): void {
    for (const at of this.mounted.splice(0).reverse()) {
      const error = sh('umount', [at]);
      if (error !== null) throw new Error(error);
    }
  }

  dispose(): void {
    try {
      this.unmountAll();
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

describe('Power loss, simulated', () => {
  afterEach(removeTempDirs);

  beforeAll(() => {
    if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace is needed (apt-get install -y strace)');
  });

  it(`should lose no acknowledged write when killed at the Nth fdatasync (N = 1..${SWEEP.length}), as left and with each WAL cut back to its last sync`, async () => {
    const work = tempDir('rxkv-power');
    const results: Result[] = [];
    const killedIn = new Map<string, number>();
    for (const n of SWEEP) {
      const dir = join(work, `n${n}`);
      const run = await runUntilKilled(dir, 'sync', { atSync: n }, work);
      const cut = join(work, `n${n}-cut`);
      copyWithSyncedWal(dir, cut, run);
      results.push({ n, acked: run.acked.length, asLeft: await reopen(dir, 'sync', run.acked), cut: await reopen(cut, 'sync', run.acked) });
      killedIn.set(run.killedIn!, (killedIn.get(run.killedIn!) ?? 0) + 1);
      expect(run.rejected).withContext(`N = ${n}`).toBe(0);
      rmSync(dir, { recursive: true });
      rmSync(cut, { recursive: true });
    }
    const kept = sum(results, (result) => result.asLeft.found - result.acked);
    const keptByCut = sum(results, (result) => result.cut.found - result.acked);
    console.log(
      `\n[power-loss] 'sync', killed at the Nth fdatasync for N = 1..${SWEEP.length} ` +
        `(${[...killedIn].map(([file, count]) => `${count} in the sync of ${file}`).join(', ')}): ` +
        `${sum(results, (result) => result.acked)} acknowledgements checked, ${failed(results).length} runs losing any; ` +
        `unacknowledged records found: ${kept} as left, ${keptByCut} with the WAL cut`,
    );
    expect(failed(results)).toEqual([]);
    // The sweep reaches well into the commits, not only the creation of the database.
    expect(results[results.length - 1]!.acked).toBeGreaterThan(10 * IN_FLIGHT);
    // The cut bites: batches written but not yet synced at the kill survive a crash, not the cut.
    expect(keptByCut).toBeLessThan(kept);
  }, 90_000);

  it("should lose acknowledged writes under durability 'wal' with its WAL cut back to its last sync (the negative control)", async () => {
    const work = tempDir('rxkv-power');
    const dir = join(work, 'wal');
    const run = await runUntilKilled(dir, 'wal', { afterAcks: WAL_ACKS }, work);
    const cut = join(work, 'wal-cut');
    copyWithSyncedWal(dir, cut, run);
    const result: Result = { n: WAL_ACKS, acked: run.acked.length, asLeft: await reopen(dir, 'wal', run.acked), cut: await reopen(cut, 'wal', run.acked) };
    console.log(`\n[power-loss] 'wal', killed after ${result.acked} acknowledgements: ${result.asLeft.missing} missing as left, ${result.cut.missing} missing with the WAL cut back to its last sync`);
    expect(result.asLeft).toEqual(jasmine.objectContaining({ missing: 0 })); // a process crash: 'wal' keeps everything
    expect(result.cut.missing).toBeGreaterThan(0); // a power cut: it does not
  }, 30_000);

  describe('on a loop-mounted ext4 copied at the kill', () => {
    let unavailable: string | null = null;
    let fs: LoopFs | null = null;

    beforeAll(() => {
      unavailable = LoopFs.unavailable();
      if (unavailable !== null) console.log(`\n[power-loss] loop-mounted ext4 SKIPPED: ${unavailable}`);
      else fs = new LoopFs(mkdtempSync(join(tmpdir(), 'rxkv-loop-')));
    });

    afterAll(() => fs?.dispose());

    /** Runs the child on a fresh filesystem, cuts the power at the kill, and reopens the copy and the original. */
    async function powerCut(durability: 'sync' | 'wal', kill: Kill): Promise<Result> {
      const setUp = fs!.fresh();
      if (setUp !== null) throw new Error(setUp);
      const dir = join(fs!.mount, 'db');
      const run = await runUntilKilled(dir, durability, kill, fs!.root);
      const copied = fs!.cut();
      if (copied !== null) throw new Error(copied);
      const cut = await reopen(join(fs!.copyMount, 'db'), durability, run.acked);
      const asLeft = await reopen(dir, durability, run.acked);
      fs!.unmountAll();
      return { n: 'atSync' in kill ? kill.atSync : kill.afterAcks, acked: run.acked.length, asLeft, cut };
    }

    it(`should lose no acknowledged write when killed at the Nth fdatasync (N = ${LOOP_SWEEP.join(', ')})`, async () => {
      if (unavailable !== null) return pending(`loop-mounted ext4 unavailable: ${unavailable}`);
      const results: Result[] = [];
      for (const n of LOOP_SWEEP) results.push(await powerCut('sync', { atSync: n }));
      const kept = sum(results, (result) => result.asLeft.found - result.acked);
      const keptByCut = sum(results, (result) => result.cut.found - result.acked);
      console.log(
        `\n[power-loss] loop ext4, 'sync', killed at the Nth fdatasync for ${LOOP_SWEEP.length} values of N: ` +
          `${sum(results, (result) => result.acked)} acknowledgements checked, ${failed(results).length} runs losing any; ` +
          `unacknowledged records found: ${kept} as left, ${keptByCut} in the copies`,
      );
      expect(failed(results)).toEqual([]);
      expect(results[results.length - 1]!.acked).toBeGreaterThan(10 * IN_FLIGHT);
      expect(keptByCut).toBeLessThan(kept);
    }, 60_000);

    it("should lose acknowledged writes under durability 'wal' (the negative control)", async () => {
      if (unavailable !== null) return pending(`loop-mounted ext4 unavailable: ${unavailable}`);
      const result = await powerCut('wal', { afterAcks: WAL_ACKS });
      console.log(`\n[power-loss] loop ext4, 'wal', killed after ${result.acked} acknowledgements: ${result.asLeft.missing} missing as left, ${result.cut.missing} missing in the copy`);
      expect(result.asLeft).toEqual(jasmine.objectContaining({ missing: 0 }));
      expect(result.cut.missing).toBeGreaterThan(0);
    }, 30_000);
  });
});
