import { ErrorCode, fail } from '../errors.js';

/** `open(path, { cluster })`: the NATS servers, and the JetStream stream that is the cluster's history. */
export interface ClusterOptions {
  /** NATS URLs (`nats://host:4222`): any of them will do, the client finds the others. */
  servers: string | readonly string[];
  /** The stream's name: created on first use, shared by every node of the cluster. */
  stream: string;
  /** How many servers hold each message when the stream is created (default 3: survives the loss of one). */
  replicas?: number;
  /** How long a batch of writes may wait for the cluster before its writes reject with `CLUSTER_UNAVAILABLE` (default 10 s). */
  timeout?: number;
  /** When the stream is created: how long (ms) and how many bytes of messages it keeps (default: no limit). Snapshots cover what it drops. */
  maxAge?: number;
  maxBytes?: number;
  /** Every this many messages, a snapshot of the state goes to the cluster's object store (default 10,000; 0: never). */
  snapshotEvery?: number;
}

export interface ClusterSettings {
  readonly servers: readonly string[];
  readonly stream: string;
  readonly replicas: number;
  readonly timeout: number;
  readonly maxAge: number | undefined;
  readonly maxBytes: number | undefined;
  readonly snapshotEvery: number;
}

export function clusterSettings(options: ClusterOptions): ClusterSettings {
  if (typeof options !== 'object' || options === null) fail(ErrorCode.INVALID_ARGUMENT, 'open({ cluster }) takes { servers, stream, replicas, timeout }.');
  const servers = typeof options.servers === 'string' ? [options.servers] : options.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((url) => typeof url === 'string' && url !== '')) {
    fail(ErrorCode.INVALID_ARGUMENT, 'open({ cluster: { servers } }) takes NATS URLs, such as ["nats://127.0.0.1:4222"].');
  }
  if (typeof options.stream !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(options.stream)) {
    fail(ErrorCode.INVALID_ARGUMENT, 'open({ cluster: { stream } }) takes a stream name of letters, digits, _ and - (JetStream allows no dots or spaces).');
  }
  const replicas = options.replicas ?? 3;
  if (!(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5)) fail(ErrorCode.INVALID_ARGUMENT, 'open({ cluster: { replicas } }) takes 1 to 5 (JetStream replicates a stream over at most 5 servers).');
  const timeout = options.timeout ?? 10_000;
  if (!(Number.isSafeInteger(timeout) && timeout > 0)) fail(ErrorCode.INVALID_ARGUMENT, 'open({ cluster: { timeout } }) takes a positive number of milliseconds.');
  for (const name of ['maxAge', 'maxBytes'] as const) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) fail(ErrorCode.INVALID_ARGUMENT, `open({ cluster: { ${name} } }) takes a positive integer.`);
  }
  const snapshotEvery = options.snapshotEvery ?? 10_000;
  if (!(Number.isSafeInteger(snapshotEvery) && snapshotEvery >= 0)) fail(ErrorCode.INVALID_ARGUMENT, 'open({ cluster: { snapshotEvery } }) takes a number of messages (0: no snapshots).');
  return { servers, stream: options.stream, replicas, timeout, maxAge: options.maxAge, maxBytes: options.maxBytes, snapshotEvery };
}
