import type { Database } from '../db/database.js';
import type { Transaction } from '../db/transaction.js';
import { ErrorCode } from '../errors.js';
import { describeError } from './wire.js';

/** The internal table of what each client's writes came to, keyed by client id. */
const LEDGER = '#clients';
/** The most outcomes kept per client: those of the writes it has not acknowledged. */
const MAX_OUTCOMES = 256;

/** What one write of a client came to: the seq it committed with, or the error it failed with. */
export type Outcome = { readonly seq: number } | { readonly error: { readonly code: string; readonly message: string } };
/** A write applied by the transaction that returns it, at the seq it committed with as the transaction saw it. */
type Applied = { readonly applied: number };

/** One client's entry: its last mutation number, and the outcomes of those it may still ask about. */
interface ClientRecord {
  readonly last: number;
  /** By mutation number: a seq (`THIS_COMMIT`: the entry's version), or `[code, message]` for a write that failed. */
  readonly outcomes: Readonly<Record<string, number | readonly [string, string]>>;
}

/**
 * The seq of the newest write an entry records: that of the commit that wrote the entry, its
 * version. Recorded so, not as a number, because a cluster's node learns a commit's seq only once
 * the stream has ordered it; made a number when the next write of the client rewrites the entry.
 */
const THIS_COMMIT = -1;

/**
 * Exactly-once client writes. Each write of a client carries its mutation number; its outcome is
 * recorded in the same commit as its writes (or, when it fails, in a commit of its own at the same
 * point of the commit order), so that a write sent again after its reply was lost (a dropped
 * connection, a server restart) is answered with its outcome, never applied twice. The entries are
 * bounded in count and age (`maxClients`, `clientTtl`) and pruned oldest first.
 */
export class ClientLedger {
  constructor(
    private readonly db: Database,
    private readonly maxClients: number,
    private readonly ttl: number,
    /** Clients connected now: never pruned for count. */
    private readonly connected: () => ReadonlySet<string>,
  ) {}

  /**
   * Applies a write of `client` once: `apply` writes its ops in a transaction that also records
   * its outcome; `refusal` (from `authorize`) fails it without applying anything. `ack`: every
   * write of the client up to it is settled on its side.
   */
  write(client: string, m: number, ack: number | undefined, refusal: Error | null, apply: (tx: Transaction) => void): Promise<Outcome> {
    const written = this.db.transactOr(
      (tx): Outcome | Applied => {
        const ledger = tx.internalTable<ClientRecord>(LEDGER);
        const record = ledger.get(client);
        const version = ledger.meta(client)?.version ?? 0;
        if (record !== undefined && m <= record.last) return recorded(record, m, version);
        if (refusal !== null) throw refusal;
        apply(tx);
        ledger.put(client, withOutcome(record, version, m, ack, THIS_COMMIT));
        return { applied: tx.commitSeq };
      },
      (tx, error): Outcome => {
        const { code, message } = describeError(error);
        const ledger = tx.internalTable<ClientRecord>(LEDGER);
        ledger.put(client, withOutcome(ledger.get(client), ledger.meta(client)?.version ?? 0, m, ack, [code, message]));
        return { error: { code, message } };
      },
    );
    void written.then(() => this.pruneIfFull(), () => undefined);
    // On a cluster's node the seq a transaction saw as its own is a guess; the entry's version once
    // committed is the commit's (or a later one's of the same client, never an earlier one).
    return written.then((outcome) => {
      if (!('applied' in outcome)) return outcome;
      return { seq: this.db.cluster === undefined ? outcome.applied : (this.db.internalTable<ClientRecord>(LEDGER).meta(client)?.version ?? outcome.applied) };
    });
  }

  /** Drops the entries of clients not heard from within the time to live. */
  pruneExpired(): Promise<unknown> {
    const table = this.db.internalTable<ClientRecord>(LEDGER);
    const before = Date.now() - this.ttl;
    const expired = [...table.keys()].filter((client) => table.meta(client)!.updated < before);
    return this.drop(expired);
  }

  /** Past `maxClients`, drops the entries of the clients heard from least recently, down to 90% of it. */
  private pruneIfFull(): void {
    const table = this.db.internalTable<ClientRecord>(LEDGER);
    if (table.size <= this.maxClients || this.db.closed) return;
    const connected = this.connected();
    const candidates = [...table.keys()].filter((client) => !connected.has(client));
    candidates.sort((a, b) => table.meta(a)!.updated - table.meta(b)!.updated);
    void this.drop(candidates.slice(0, table.size - Math.floor(this.maxClients * 0.9))).catch(() => undefined);
  }

  private drop(clients: readonly string[]): Promise<unknown> {
    if (clients.length === 0 || this.db.closed) return Promise.resolve();
    return this.db.transaction((tx) => {
      const ledger = tx.internalTable(LEDGER);
      for (const client of clients) ledger.delete(client);
    });
  }
}

/** The outcome of a write at or below the client's last: what was recorded, if it is still kept. */
function recorded(record: ClientRecord, m: number, version: number): Outcome {
  const outcome = record.outcomes[m];
  if (typeof outcome === 'number') return { seq: outcome === THIS_COMMIT ? version : outcome };
  if (outcome !== undefined) return { error: { code: outcome[0], message: outcome[1] } };
  return {
    error: {
      code: ErrorCode.BAD_MESSAGE,
      message: `write: mutation ${m} is at or below this client's last (${record.last}) and not among those it has not acknowledged: nothing was applied.`,
    },
  };
}

/** The entry after write `m` (`version`: that of the entry it replaces). */
function withOutcome(record: ClientRecord | undefined, version: number, m: number, ack: number | undefined, outcome: number | readonly [string, string]): ClientRecord {
  const outcomes: Record<string, number | readonly [string, string]> = {};
  const kept = Object.keys(record?.outcomes ?? {})
    .map(Number)
    .filter((each) => ack === undefined || each > ack)
    .sort((a, b) => a - b)
    .slice(-(MAX_OUTCOMES - 1));
  for (const each of kept) {
    const kept = record!.outcomes[each]!;
    outcomes[each] = kept === THIS_COMMIT ? version : kept;
  }
  outcomes[m] = outcome;
  return { last: m, outcomes };
}
