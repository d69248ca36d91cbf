import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from '../json/types.js';
import { writeCopy, type CopiedRecord } from '../engine/copy.js';
import type { Engine } from '../engine/lifecycle.js';
import type { Snapshot } from '../engine/snapshot.js';
import { Entry } from '../model/record.js';

const FORMAT = 'rxkv-cluster-snapshot';
const VERSION = 1;
/** Bytes per chunk handed to the object store. */
const CHUNK_BYTES = 64 * 1024;

/** What a snapshot's first line says: the state it holds is that after stream message `streamSeq`. */
export interface SnapshotHeader {
  readonly format: typeof FORMAT;
  readonly version: number;
  readonly history: string;
  /** The stream seq of the last message applied in it. */
  readonly streamSeq: number;
  /** The database's seq then: the node that loads it goes on with the same seqs. */
  readonly seq: number;
}

/**
 * The object the cluster's snapshot is stored as: one, replaced by each newer one (readers see the
 * old one until the new one is whole). Its description is the stream seq it is at.
 */
export const SNAPSHOT_OBJECT = 'snapshot';

/**
 * The state of `engine` now, every table and the package's own (the node's position among them),
 * as NDJSON bytes: the snapshots are taken in the call, so it is one state however long it is read.
 */
export function snapshotStream(engine: Engine, streamSeq: number): ReadableStream<Uint8Array> {
  const heads: Snapshot[] = engine.allStates().map((state) => state.head);
  const header: SnapshotHeader = { format: FORMAT, version: VERSION, history: engine.history, streamSeq, seq: engine.seq };
  const lines = (function* (): Generator<string> {
    yield JSON.stringify(header);
    for (const head of heads) {
      for (const [key, value] of head.range()) {
        const { version, created, updated } = head.meta(key)!;
        yield JSON.stringify({ t: head.table, k: key, v: value, version, created, updated });
      }
    }
  })();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      let chunk = '';
      for (let next = lines.next(); ; next = lines.next()) {
        if (next.done === true) {
          if (chunk !== '') controller.enqueue(encoder.encode(chunk));
          controller.close();
          return;
        }
        chunk += next.value + '\n';
        if (chunk.length >= CHUNK_BYTES) break;
      }
      controller.enqueue(encoder.encode(chunk));
    },
  });
}

/**
 * Writes the snapshot read from `data` into `dest` (new or empty) as a database at its seq, in its
 * history. Resolves with its header. One that does not decode is `DATABASE_CORRUPTED`, and leaves
 * nothing behind.
 */
export async function loadSnapshot(dest: string, data: ReadableStream<Uint8Array>): Promise<SnapshotHeader> {
  const lines = splitLines(data);
  const first = await lines.next();
  const header = first.done === true ? undefined : (JSON.parse(first.value) as SnapshotHeader);
  if (header?.format !== FORMAT || header.version !== VERSION || !Number.isSafeInteger(header.streamSeq) || !Number.isSafeInteger(header.seq) || typeof header.history !== 'string') {
    throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `The cluster's snapshot does not start with a ${FORMAT} header of version ${VERSION}.`);
  }
  const records = (async function* (): AsyncGenerator<CopiedRecord> {
    for await (const line of lines) {
      const { t, k, v, version, created, updated } = JSON.parse(line) as { t: string; k: string; v: Json; version: number; created: number; updated: number };
      if (typeof t !== 'string' || typeof k !== 'string' || v === undefined || !Number.isSafeInteger(version)) {
        throw new RxkvError(ErrorCode.DATABASE_CORRUPTED, `A record of the cluster's snapshot at message ${header.streamSeq} does not decode.`);
      }
      yield { table: t, key: k, entry: new Entry(v, created, updated, version) };
    }
  })();
  await writeCopy(dest, records, 0, header.seq, header.history, undefined);
  return header;
}

async function* splitLines(data: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = data.getReader();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += decoder.decode(value, { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line !== '') yield line;
  }
  rest += decoder.decode();
  if (rest !== '') yield rest;
}
