import type { RxkvError } from '../errors.js';
import { diff } from '../json/diff.js';
import { jsonEqual } from '../json/equal.js';
import { deepFreeze } from '../json/freeze.js';
import { applyPatch } from '../json/patch.js';
import type { Json } from '../json/types.js';
import { changeOp, type Change } from '../model/change.js';
import { covers } from '../model/filter.js';
import { OrderedRecords } from '../model/ordered-records.js';
import { bounds, checkRangeOptions, type RangeOptions } from '../model/range.js';
import type { SubscriptionFilter, WireChange } from '../sync/protocol.js';
import { applyOps, type PendingWrites } from './optimistic.js';

/** What `TableReplica.reflected` says of a record no live subscription covers. */
const NOT_COVERED = -1;

/** Told what happens to the server subscription it is attached to (by a stream of a remote table). */
export interface SubscriptionObserver {
  /** The subscription's records are in the replica (called at once when they already were). */
  live(): void;
  /** A change of a record the subscription covers, once live. */
  change(change: Change): void;
  /** The end of a message that changed something the subscription covers: it is fully applied. */
  applied?(): void;
  /** The subscription failed (refused, forbidden) or the client was closed (`error` undefined). */
  end(error: RxkvError | undefined): void;
}

/**
 * What the current connection has delivered. The server sends one ordered stream: once a
 * subscription is synced on it (its snapshot or its `subscribed` arrived), every later change it
 * covers comes in order, and each message's seq says that every change up to it has come.
 */
export class Feed {
  /** Every change up to this seq that a synced subscription covers is in the replica. */
  seq = 0;
  /**
   * Some live subscription is not synced on this connection yet: the server may replay changes the
   * replica already holds (what a snapshot or an earlier, cut-off replay brought), to be skipped.
   */
  resuming = false;
}

/** A subscription held on the server, shared by every observer with the same filter. */
export class ServerSub {
  readonly observers = new Set<SubscriptionObserver>();
  /** Its snapshot arrived: its records are in the replica and its changes are applied. */
  live = false;
  /** Its snapshot or `subscribed` arrived on the current connection. */
  synced = false;
  /** The pages of its snapshot received so far, until the last one. */
  pages: (readonly [string, Json])[] | null = null;
  private ownSeq = 0;
  private readonly keySet: ReadonlySet<string> | undefined;

  constructor(
    readonly number: number,
    readonly table: TableReplica,
    readonly filter: SubscriptionFilter,
  ) {
    this.keySet = filter.keys === undefined ? undefined : new Set(filter.keys);
  }

  /** Every change it covers up to this seq is in the replica: where it resumes from. */
  get seq(): number {
    return this.synced ? Math.max(this.ownSeq, this.table.feed.seq) : this.ownSeq;
  }

  /** Its records were brought up to `seq` on the current connection. */
  sync(seq: number): void {
    this.ownSeq = Math.max(this.ownSeq, seq);
    this.synced = true;
  }

  /** The connection is gone: keeps the position it reached. */
  unsync(): void {
    this.ownSeq = this.seq;
    this.synced = false;
    this.pages = null;
  }

  /** Its records were restored from a persisted replica's store, as of `seq`: it resumes from there. */
  restoreAt(seq: number): void {
    this.ownSeq = seq;
  }

  /** The server follows another history: the position reached means nothing there. */
  forgetPosition(): void {
    this.ownSeq = 0;
  }

  covers(key: string): boolean {
    return covers(this.filter, this.keySet, key);
  }
}

/** An immutable view of a replica's table at one moment. */
export class ReplicaSnapshot<T = Json> extends OrderedRecords<T> {
  private sorted: string[] | null = null;

  constructor(
    private readonly records: ReadonlyMap<string, T>,
    /** The last seq the replica had applied. */
    readonly seq: number,
    /** Some of its records include optimistic writes the server has not confirmed yet. */
    readonly hasPendingWrites = false,
    private readonly pendingKeys: ReadonlySet<string> | undefined = undefined,
  ) {
    super();
  }

  /** Whether the record as shown includes optimistic writes the server has not confirmed yet (a record shown deleted too). */
  isPending(key: string): boolean {
    return this.pendingKeys?.has(key) ?? false;
  }

  get size(): number {
    return this.records.size;
  }

  get(key: string): T | undefined {
    return this.records.get(key);
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  /** Records in key order, within bounds (see `Snapshot.range` of a local table). */
  range(options: RangeOptions = {}): IterableIterator<[string, T]> {
    checkRangeOptions(options);
    const keys = this.sortedKeys();
    const [start, end] = bounds(keys, options);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const records = this.records;
    const picked = options.reverse === true ? keys.slice(Math.max(start, end - limit), end).reverse() : keys.slice(start, Math.min(end, start + limit));
    return picked.map((key): [string, T] => [key, records.get(key)!])[Symbol.iterator]();
  }

  private sortedKeys(): string[] {
    return (this.sorted ??= [...this.records.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

/**
 * One table of a client's replica: the records its live subscriptions cover, kept equal to the
 * server's by applying, in order, the snapshots and patches of one connection.
 */
export class TableReplica {
  /** The server's records, as confirmed. */
  readonly records = new Map<string, Json>();
  /**
   * The records optimistic writes touch, as shown: their confirmed value with those writes
   * re-applied in order (undefined: shown deleted). Recomputed after every change of either.
   */
  private readonly shown = new Map<string, Json | undefined>();
  /** Subscriptions by filter, so that observers with the same filter share one. */
  readonly subs = new Map<string, ServerSub>();
  private view: ReplicaSnapshot | null = null;
  /** Subscriptions with a change in the message being applied. */
  private readonly touched = new Set<ServerSub>();
  /**
   * While resuming: the seq each record set or removed meanwhile reflects. Outside a resume every
   * record reflects at least the seq of the subscriptions covering it, so nothing is kept.
   */
  private readonly resumed = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly feed: Feed,
    private readonly pending: PendingWrites,
    /** Told of every record set or dropped: a persisted replica stores it. */
    private readonly recordChanged?: (table: string, key: string) => void,
  ) {}

  /** A record as a persisted replica's store kept it (no stream is live yet: nothing to tell). */
  restore(key: string, value: Json): void {
    this.records.set(key, value);
  }

  /** A record as the replica shows it: with the optimistic writes on it. */
  value(key: string): Json | undefined {
    return this.shown.has(key) ? this.shown.get(key) : this.records.get(key);
  }

  /** Shows the confirmed records only (the client closed: its optimistic writes are gone). */
  clearShown(): void {
    this.shown.clear();
    this.view = null;
  }

  /** Some record it shows includes optimistic writes. */
  get hasPendingWrites(): boolean {
    return this.shown.size > 0;
  }

  /** The replica as shown, as an immutable snapshot (copied once per change of it, when asked for). */
  snapshot(seq: number): ReplicaSnapshot {
    if (this.view === null || this.view.seq !== seq) {
      const records = new Map(this.records);
      for (const [key, value] of this.shown) {
        if (value === undefined) records.delete(key);
        else records.set(key, value);
      }
      this.view = new ReplicaSnapshot(records, seq, this.shown.size > 0, this.shown.size > 0 ? new Set(this.shown.keys()) : undefined);
    }
    return this.view;
  }

  /**
   * Shows a record again after its confirmed value or the optimistic writes on it changed: those
   * writes re-applied in order on the confirmed value. Emits the difference from what was shown
   * (`before`), if there is one: a write the server confirms as shown emits nothing.
   */
  rebase(key: string, seq: number, ts: number, before = this.value(key)): void {
    const ops = this.pending.opsOf(this.name, key);
    if (ops.length === 0) this.shown.delete(key);
    else this.shown.set(key, applyOps(this.records.get(key), ops));
    this.view = null;
    const after = this.value(key);
    if (before === after || (before !== undefined && after !== undefined && jsonEqual(before, after))) return;
    if (this.reflected(key) === NOT_COVERED) return; // shown to reads only: no stream to tell, no patch to make
    this.emit(key, { table: this.name, key, op: changeOp(before, after), value: after, previous: before, patch: diff(before, after), seq, ts, pending: this.shown.has(key) });
  }

  /** Applies a change from the server; returns false when the patch does not apply (the replica diverged). */
  apply(wire: WireChange): boolean {
    const reflected = this.reflected(wire.key);
    if (reflected === NOT_COVERED) return true; // of a subscription dropped since it was sent
    if (wire.seq <= reflected) return true; // a replay of what the record holds already
    const optimistic = this.shown.has(wire.key);
    const shown = optimistic ? this.value(wire.key) : undefined;
    const previous = this.records.get(wire.key);
    let value: Json | undefined;
    if (wire.op !== 'delete') {
      try {
        value = applyPatch(previous, wire.patch);
      } catch {
        return false;
      }
    }
    this.set(wire.key, value, wire.seq);
    if (optimistic) this.rebase(wire.key, wire.seq, wire.ts, shown);
    else this.emit(wire.key, { table: this.name, key: wire.key, op: wire.op, value, previous, patch: wire.patch, seq: wire.seq, ts: wire.ts });
    return true;
  }

  /** The end of a resume: every live subscription is synced again. */
  resumeEnded(): void {
    this.resumed.clear();
  }

  /**
   * The seq a record is known to reflect: what its live subscriptions reached, or what set it
   * during a resume; NOT_COVERED when no live subscription covers it. No array of the covering
   * subscriptions is made: this runs for every change a replica receives.
   */
  private reflected(key: string): number {
    let seq = NOT_COVERED;
    for (const sub of this.subs.values()) if (sub.live && sub.covers(key)) seq = Math.max(seq, sub.seq);
    if (seq === NOT_COVERED || this.resumed.size === 0) return seq;
    return Math.max(seq, this.resumed.get(key) ?? 0);
  }

  /**
   * A subscription's records as of `seq`: they replace what the replica held in its range. With
   * `removed` (a partial snapshot), they are only those changed since the subscription's position
   * and `removed` the keys deleted since: the rest stands. Live observers see the difference as
   * changes; the subscription's own become live.
   */
  applySnapshot(sub: ServerSub, records: readonly (readonly [string, Json])[], seq: number, removed?: readonly string[]): void {
    const incoming = new Map<string, Json>();
    for (const [key, value] of records) incoming.set(key, value);
    const ts = Date.now();
    const gone = (removed ?? [...this.records.keys()]).filter((key) => sub.covers(key) && this.records.has(key) && !incoming.has(key));
    for (const key of gone) this.replace(key, undefined, seq, ts);
    for (const [key, value] of incoming) {
      const previous = this.records.get(key);
      if (previous === undefined || !jsonEqual(previous, value)) this.replace(key, deepFreeze(value), seq, ts);
      else if (this.feed.resuming) this.resumed.set(key, seq);
    }
    if (!sub.live) {
      sub.live = true;
      for (const observer of sub.observers) observer.live();
    }
  }

  /** Tells the observers of subscriptions that changed that a message is fully applied. */
  notifyApplied(): void {
    for (const sub of this.touched) for (const observer of sub.observers) observer.applied?.();
    this.touched.clear();
  }

  /** Drops the records no live subscription covers any more. */
  prune(): void {
    const live = [...this.subs.values()].filter((sub) => sub.live);
    for (const key of [...this.records.keys()]) {
      if (!live.some((sub) => sub.covers(key))) this.set(key, undefined, undefined);
    }
  }

  private replace(key: string, value: Json | undefined, seq: number, ts: number): void {
    const previous = this.records.get(key);
    const shown = this.value(key);
    this.set(key, value, seq);
    if (this.shown.has(key)) return this.rebase(key, seq, ts, shown);
    this.emit(key, { table: this.name, key, op: changeOp(previous, value), value, previous, patch: diff(previous, value), seq, ts });
  }

  /** Sets a record as of `seq` (undefined: dropped from the replica, not changed on the server). */
  private set(key: string, value: Json | undefined, seq: number | undefined): void {
    if (value === undefined) this.records.delete(key);
    else this.records.set(key, value);
    if (seq !== undefined && this.feed.resuming) this.resumed.set(key, seq);
    this.view = null;
    this.recordChanged?.(this.name, key);
  }

  /** Tells the observers of the live subscriptions that cover the record. */
  private emit(key: string, change: Change): void {
    for (const sub of this.subs.values()) {
      if (!sub.live || !sub.covers(key)) continue;
      this.touched.add(sub);
      for (const observer of sub.observers) observer.change(change);
    }
  }
}
