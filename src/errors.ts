/**
 * Every error rxkv raises on purpose is an {@link RxkvError} with a stable `code`.
 * Match on `code`, never on the message: messages say what to do and may change.
 */
export const ErrorCode = {
  /** A table name is not `/^[A-Za-z0-9_.-]{1,128}$/`. */
  INVALID_TABLE_NAME: 'INVALID_TABLE_NAME',
  /** A key is not a non-empty, well-formed string of at most 1 KiB of UTF-8. */
  INVALID_KEY: 'INVALID_KEY',
  /** A value is not plain JSON (functions, symbols, BigInt, NaN, undefined members, Dates, cycles...). */
  INVALID_VALUE: 'INVALID_VALUE',
  /** A value (or the record a merge would produce) is larger than `maxValueBytes`. */
  VALUE_TOO_LARGE: 'VALUE_TOO_LARGE',
  /** An argument or option of the wrong type or range. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** `{ ifVersion }` did not match the record's version. */
  CONFLICT: 'CONFLICT',
  /** `increment` found a member that is not a number, or a path through a non-object. */
  NOT_A_NUMBER: 'NOT_A_NUMBER',
  /** The database is closed (or closing): nothing more can be written. */
  DATABASE_CLOSED: 'DATABASE_CLOSED',
  /** The directory is held by another open database (in this or another process), or a persisted replica's store by another client. */
  DATABASE_LOCKED: 'DATABASE_LOCKED',
  /**
   * Commits acknowledged earlier are missing from the database (a hole in the WAL, or a tail
   * shorter than the watermark): `open` refuses; `{ salvage: true }` opens what survived.
   */
  DATABASE_CORRUPTED: 'DATABASE_CORRUPTED',
  /** RocksDB could not open the directory. */
  OPEN_FAILED: 'OPEN_FAILED',
  /** The storage write of a commit failed (disk full, I/O error): the write was not acknowledged. */
  COMMIT_FAILED: 'COMMIT_FAILED',
  /** An index function threw for a record (reported on `db.errors$`; the commit stands). */
  INDEX_FAILED: 'INDEX_FAILED',
  /** Something that is read-only was asked to change (for example `state$.next`). */
  READ_ONLY: 'READ_ONLY',
  /** Sync: the server's `authenticate` hook refused the connection (no token, or a bad one). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** Sync: the server's `authorize` hook refused a subscription or a write. */
  FORBIDDEN: 'FORBIDDEN',
  /** Sync: a message that is not valid JSON, of an unknown type, or with missing or mistyped fields. */
  BAD_MESSAGE: 'BAD_MESSAGE',
  /** Sync: a server limit was reached (subscriptions per connection). */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /**
   * Sync: a write had no answer within the client's `writeTimeout` (offline, or the server is
   * down): it was applied at most once, maybe not at all, and is not sent again.
   */
  TIMEOUT: 'TIMEOUT',
  /** Sync: the connection dropped during a request that cannot be resumed (a dump): make it again. */
  CONNECTION_LOST: 'CONNECTION_LOST',
  /** Sync: the client was closed; nothing more can be read from the server or written. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** Sync: the server failed to handle a request (a defect on its side, not the request's). */
  INTERNAL: 'INTERNAL',
  /**
   * Sync: the store of a persisted replica (`connect(url, { persist })`) failed to read or write:
   * what it failed to write was not kept (a write in it rejects, unsent).
   */
  STORE_FAILED: 'STORE_FAILED',
  /** Sync: the store of a persisted replica is out of space (IndexedDB's quota, a full disk): what did not fit was not kept. */
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /**
   * Cluster: NATS could not be reached, or JetStream had no quorum, within the cluster's `timeout`:
   * the writes were not acknowledged (applied only if the stream got them after all).
   */
  CLUSTER_UNAVAILABLE: 'CLUSTER_UNAVAILABLE',
  /** Cluster: the node's position is no longer in the stream (its start was removed) and no snapshot covers it. */
  CLUSTER_POSITION_LOST: 'CLUSTER_POSITION_LOST',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RxkvError extends Error {
  override readonly name = 'RxkvError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shorthand for throwing an {@link RxkvError}. */
export function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new RxkvError(code, message, cause === undefined ? undefined : { cause });
}
