import { connect, nanos, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type NatsConnection, type ObjectStore } from 'nats';
import { ErrorCode, RxkvError } from '../errors.js';
import { uuid } from '../model/uuid.js';
import type { ClusterSettings } from './options.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long one publish waits for JetStream's ack before it is sent again (same id: applied once). */
const ATTEMPT_MS = 2000;

/**
 * A cluster's history: one JetStream stream, replicated by NATS's Raft. rxkv only appends to it
 * (with an id per message, so that a publish sent again after a lost ack is stored once) and reads
 * it in order; the consensus is JetStream's.
 */
export class ClusterStream {
  private store: Promise<ObjectStore> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly settings: ClusterSettings,
    /** The id the first node gave the stream's history: with the stream's name, what identifies it on every node. */
    readonly origin: string,
  ) {}

  /** Connects to the servers and creates the stream when it does not exist yet. */
  static async open(settings: ClusterSettings): Promise<ClusterStream> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: [...settings.servers], maxReconnectAttempts: -1, reconnectTimeWait: 250, name: 'rxkv' });
    } catch (cause) {
      throw new RxkvError(ErrorCode.CLUSTER_UNAVAILABLE, `Could not reach NATS at ${settings.servers.join(', ')}: ${(cause as Error).message}.`, { cause });
    }
    // Servers started a moment ago may have JetStream up before enough peers to place a
    // replicated stream ("no suitable peers"), or no leader yet: asked again until `timeout`.
    const deadline = Date.now() + settings.timeout;
    for (;;) {
      try {
        const jsm = await nc.jetstreamManager({ timeout: ATTEMPT_MS });
        await jsm.streams.info(settings.stream).catch((error: unknown) => {
          notFound(error);
          // Nodes opening at once each add it, with the same config: JetStream makes it once.
          return jsm.streams.add({
            name: settings.stream,
            subjects: [subjectOf(settings.stream)],
            num_replicas: settings.replicas,
            storage: StorageType.File,
            ...(settings.maxAge === undefined ? {} : { max_age: nanos(settings.maxAge) }),
            ...(settings.maxBytes === undefined ? {} : { max_bytes: settings.maxBytes }),
          });
        });
        // Asked in short attempts: a bucket just made has no leader for a moment (503, or no answer).
        const origin = await originOf(nc.jetstream({ timeout: ATTEMPT_MS }), settings);
        return new ClusterStream(nc, nc.jetstream({ timeout: settings.timeout }), jsm, settings, origin);
      } catch (cause) {
        if (Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          continue;
        }
        await nc.close();
        throw new RxkvError(ErrorCode.CLUSTER_UNAVAILABLE, `JetStream did not answer for stream ${settings.stream} within ${settings.timeout} ms (${(cause as Error).message}): is it enabled, with a quorum of servers up?`, { cause });
      }
    }
  }

  /** The most bytes one message may hold (the servers' max payload). */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /**
   * Appends a message; resolves with its stream seq once a quorum holds it. Sent again on a timeout
   * or while there is no leader, until `timeout`: then rejects with `CLUSTER_UNAVAILABLE`, and the
   * message may or may not be in the stream (a lost ack).
   */
  async publish(text: string, id: string): Promise<number> {
    const data = encoder.encode(text);
    const deadline = Date.now() + this.settings.timeout;
    for (;;) {
      try {
        const ack = await this.js.publish(subjectOf(this.settings.stream), data, { msgID: id, timeout: Math.min(ATTEMPT_MS, Math.max(1, deadline - Date.now())) });
        return ack.seq;
      } catch (cause) {
        if (Date.now() >= deadline || this.nc.isClosed()) {
          throw new RxkvError(
            ErrorCode.CLUSTER_UNAVAILABLE,
            `The cluster did not take a batch of writes within ${this.settings.timeout} ms (${(cause as Error).message}): they were not acknowledged, and are applied only if the stream got them after all.`,
            { cause },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** The stream's first and last seqs now. */
  async bounds(): Promise<{ first: number; last: number }> {
    const { state } = await this.jsm.streams.info(this.settings.stream).catch((cause: unknown) => {
      throw new RxkvError(ErrorCode.CLUSTER_UNAVAILABLE, `JetStream did not tell where stream ${this.settings.stream} ends (${(cause as Error).message}): is a quorum of its servers up?`, { cause });
    });
    return { first: state.first_seq, last: state.last_seq };
  }

  /** Reads the stream in order from `seq`, handing each message over; stops when `stop` is called. */
  async follow(seq: number, each: (text: string, seq: number) => Promise<void> | void): Promise<{ stop: () => void; done: Promise<void> }> {
    const consumer = await this.js.consumers.get(this.settings.stream, { opt_start_seq: seq });
    // A short pull expiry: a consumer on a server that died notices within seconds, not 30.
    const messages: ConsumerMessages = await consumer.consume({ expires: 2000 });
    const done = (async () => {
      for await (const message of messages) await each(decoder.decode(message.data), message.seq);
    })();
    return { stop: () => void messages.stop(), done };
  }

  /**
   * The object store of the cluster's snapshots, replicated as the stream: created by the first
   * snapshot stored (`create`); undefined when there is none yet.
   */
  async snapshots(create: boolean): Promise<ObjectStore | undefined> {
    const bucket = `${this.settings.stream}-snapshots`;
    if (this.store === undefined) {
      // Looked up first: opening an object store creates it, a stream replicated by Raft of its own.
      const exists = create || (await this.jsm.streams.info(`OBJ_${bucket}`).then(() => true, notFound));
      if (!exists) return undefined;
      this.store = this.js.views.os(bucket, { replicas: this.settings.replicas, storage: StorageType.File });
    }
    return this.store;
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}

/**
 * The id of the stream's history, named once: the first node to get there creates it in a
 * replicated key-value bucket (a create is a compare-and-set), the others read it. Not the stream's
 * creation time, which each of its peers may report differently (seen 31 ms apart when three nodes
 * created the stream at once), nor its description, which a later `add` may replace.
 */
async function originOf(js: JetStreamClient, settings: ClusterSettings): Promise<string> {
  const kv = await js.views.kv(`${settings.stream}-history`, { replicas: settings.replicas, history: 1, storage: StorageType.File });
  await kv.create('origin', new TextEncoder().encode(uuid())).catch(() => undefined); // taken: another node named it
  const entry = await kv.get('origin');
  if (entry === null) throw new Error(`the history id of stream ${settings.stream} is missing`);
  return new TextDecoder().decode(entry.value);
}

/** Returns false for JetStream's "stream not found" (10059), throws anything else. */
function notFound(error: unknown): false {
  if ((error as { api_error?: { err_code?: number } }).api_error?.err_code !== 10059) throw error;
  return false;
}

function subjectOf(stream: string): string {
  return `rxkv.${stream}`;
}
