import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import { checkKey, checkTableName } from '../model/keys.js';
import { toFrozenJson } from '../json/validate.js';
import { DELETE_SPEC, type WriteSpec } from '../engine/writes.js';

/**
 * One write intent of a cluster's message, as every node applies it: a write of one record (the
 * verbs that are data: merge, update, put, delete, increment, with their `ifVersion`), or the
 * writes a transaction (or `produce`, or `clear`) made on its node, conditioned on the versions it
 * read.
 */
export type ClusterOp =
  | { readonly kind: 'write'; readonly table: string; readonly key: string; readonly spec: WriteSpec; readonly ifVersion: number | undefined }
  | { readonly kind: 'checked'; readonly reads: readonly Read[]; readonly writes: readonly Written[] };

/** A record a transaction read, at the version it read (0: absent). */
export type Read = readonly [table: string, key: string, version: number];
/** A record a transaction left: its value, or absent (deleted). */
export type Written = readonly [table: string, key: string, value: Json | undefined];

/** A node's batch of writes: one message of the cluster's stream. */
export interface ClusterMessage {
  /** The node that published it (random per open) and its batch number there. */
  readonly node: string;
  readonly batch: number;
  /** When the batch was made: the time every node gives its records and changes. */
  readonly ts: number;
  readonly ops: readonly ClusterOp[];
}

const VERSION = 1;

/** The JSON text of one op (messages are built op by op, to stay under the server's max payload). */
export function encodeOp(op: ClusterOp): string {
  switch (op.kind) {
    case 'checked':
      return JSON.stringify({ w: 'checked', r: op.reads, s: op.writes.map(([table, key, value]) => (value === undefined ? [table, key] : [table, key, value])) });
    case 'write': {
      const { table, key, spec, ifVersion } = op;
      const base = ifVersion === undefined ? { t: table, k: key } : { t: table, k: key, i: ifVersion };
      switch (spec.verb) {
        case 'merge':
          return JSON.stringify({ w: spec.onlyIfExists ? 'update' : 'merge', ...base, p: spec.patch });
        case 'put':
          return JSON.stringify({ w: 'put', ...base, v: spec.value });
        case 'delete':
          return JSON.stringify({ w: 'delete', ...base });
        case 'increment':
          return JSON.stringify({ w: 'increment', ...base, path: spec.path, by: spec.by });
        case 'produce':
          throw new RxkvError(ErrorCode.INTERNAL, 'A produce recipe runs on its node and is published as the write it made, never as itself.');
      }
    }
  }
}

/** The message text around ops already encoded. */
export function encodeMessage(node: string, batch: number, ts: number, ops: readonly string[]): string {
  return `{"v":${VERSION},"node":${JSON.stringify(node)},"batch":${batch},"ts":${ts},"ops":[${ops.join(',')}]}`;
}

/**
 * Reads a message of the stream, checking all of it as a write is checked when it is called. One
 * that does not decode is `DATABASE_CORRUPTED`: every node would have to skip it the same way, and
 * skipping a write silently is what a database must never do.
 */
export function decodeMessage(text: string, streamSeq: number, maxValueBytes: number): ClusterMessage {
  const bad = (why: string, cause?: unknown): never => {
    throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `Message ${streamSeq} of the cluster's stream is not a batch of rxkv writes (${why}): this node stops rather than skip it.`, { cause });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    bad('not JSON', error);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('not an object');
  const { v, node, batch, ts, ops } = raw as Record<string, unknown>;
  if (v !== VERSION) bad(`version ${JSON.stringify(v)}, this node reads ${VERSION}`);
  if (typeof node !== 'string' || !Number.isSafeInteger(batch) || !Number.isSafeInteger(ts) || !Array.isArray(ops)) bad('no node, batch, ts or ops');
  try {
    return { node: node as string, batch: batch as number, ts: ts as number, ops: (ops as unknown[]).map((op) => decodeOp(op, maxValueBytes)) };
  } catch (error) {
    return bad((error as Error).message, error);
  }
}

function decodeOp(raw: unknown, maxValueBytes: number): ClusterOp {
  if (typeof raw !== 'object' || raw === null) throw new Error('an op is not an object');
  const op = raw as Record<string, unknown>;
  if (op['w'] === 'checked') {
    const reads = op['r'];
    const writes = op['s'];
    if (!Array.isArray(reads) || !Array.isArray(writes)) throw new Error('a checked op without reads or writes');
    return {
      kind: 'checked',
      reads: reads.map((read: unknown) => {
        if (!Array.isArray(read) || read.length !== 3 || !isVersion(read[2])) throw new Error('a read is not [table, key, version]');
        return [table(read[0]), checkKey(read[1]), read[2] as number] as const;
      }),
      writes: writes.map((write: unknown) => {
        if (!Array.isArray(write) || (write.length !== 2 && write.length !== 3)) throw new Error('a write is not [table, key, value?]');
        const value = write.length === 3 ? toFrozenJson(write[2], maxValueBytes) : undefined;
        return [table(write[0]), checkKey(write[1]), value] as const;
      }),
    };
  }
  const ifVersion = op['i'];
  if (ifVersion !== undefined && !isVersion(ifVersion)) throw new Error('ifVersion is not a version');
  const write = (spec: WriteSpec): ClusterOp => ({ kind: 'write', table: table(op['t']), key: checkKey(op['k']), spec, ifVersion: ifVersion as number | undefined });
  switch (op['w']) {
    case 'merge':
    case 'update':
      return write({ verb: 'merge', patch: toFrozenJson(op['p'], maxValueBytes, 'patch'), onlyIfExists: op['w'] === 'update' });
    case 'put':
      return write({ verb: 'put', value: toFrozenJson(op['v'], maxValueBytes) });
    case 'delete':
      return write(DELETE_SPEC);
    case 'increment': {
      const { path, by } = op;
      if (!Array.isArray(path) || !path.every((member) => typeof member === 'string') || typeof by !== 'number' || !Number.isFinite(by)) throw new Error('an increment without a path or a number');
      return write({ verb: 'increment', path: Object.freeze([...path]), by });
    }
    default:
      throw new Error(`an unknown op ${JSON.stringify(op['w'])}`);
  }
}

/** A table's name, or that of one of the package's own tables (`#...`: the sync server's ledger). */
function table(name: unknown): string {
  if (typeof name === 'string' && /^#[A-Za-z0-9_.-]{1,64}$/.test(name)) return name;
  return checkTableName(name);
}

function isVersion(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
