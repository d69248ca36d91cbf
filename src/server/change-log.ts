import { constants } from 'node:buffer';

/** One change as the log gives it back: where it belongs, and its wire form. */
export interface LoggedChange {
  readonly seq: number;
  readonly table: string;
  readonly key: string;
  /** The change as sent (`WireChange` JSON). */
  readonly json: string;
}

/** What the log holds before it first grows: it grows by doubling, up to its bounds. */
const INITIAL_CHANGES = 1024;
const INITIAL_BYTES = 64 << 10;

/**
 * The most recent changes of the whole database, oldest first, so that a client that reconnects
 * can be sent what it missed instead of a fresh snapshot. Bounded in count and in bytes of JSON:
 * it holds serialized changes, never the records themselves.
 *
 * Every change the server publishes stays here long enough to outlive several young-generation
 * collections, so as JavaScript strings and objects they would all be copied and promoted, and
 * die old. The log keeps them off the JavaScript heap instead: each change's JSON as UTF-8 in one
 * ring of bytes, its seq and place in typed arrays. Only the table and key are references (short
 * strings, mostly the ones the database holds anyway); a replay decodes the JSON it sends.
 */
export class ChangeLog {
  /** The slots of the entries: entry i (0 oldest) is in slot (first + i) % capacity. */
  private seqs = new Float64Array(0);
  private offsets = new Uint32Array(0);
  private lengths = new Uint32Array(0);
  private tables: string[] = [];
  private keys: string[] = [];
  private first = 0;
  private count = 0;
  /** The JSON of the entries, each in one piece, in order around the ring; the next one goes at `end`. */
  private bytes = Buffer.alloc(0);
  private end = 0;
  /** Every change with a seq above this is in the log. */
  private floor: number;

  /** The ring's largest size: `logBytes`, or the largest Buffer Node can make. */
  private readonly maxBytes: number;

  constructor(
    private readonly maxChanges: number,
    maxBytes: number,
    seq: number,
  ) {
    this.maxBytes = Math.min(maxBytes, constants.MAX_LENGTH);
    this.floor = seq;
  }

  append(seq: number, table: string, key: string, json: string): void {
    const length = Buffer.byteLength(json);
    if (length > this.maxBytes || this.maxChanges === 0) {
      // Cannot be held: nothing before it can be replayed either, since it would be missing.
      this.reset(seq);
      return;
    }
    if (this.count === this.seqs.length && this.count < this.maxChanges) this.growSlots();
    if (this.count === this.maxChanges) this.dropOldest();
    let at = this.place(length);
    while (at < 0) {
      if (this.bytes.length < this.maxBytes) this.growBytes(length);
      else this.dropOldest();
      at = this.place(length);
    }
    this.bytes.write(json, at, length, 'utf8');
    this.end = at + length;
    const slot = (this.first + this.count) % this.seqs.length;
    this.seqs[slot] = seq;
    this.offsets[slot] = at;
    this.lengths[slot] = length;
    this.tables[slot] = table;
    this.keys[slot] = key;
    this.count++;
  }

  /** The changes after `since`, oldest first; undefined when the log no longer holds all of them. */
  after(since: number, seq: number): LoggedChange[] | undefined {
    if (since < this.floor || since > seq) return undefined;
    const changes: LoggedChange[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.first + i) % this.seqs.length;
      if (this.seqs[slot]! <= since) continue;
      const offset = this.offsets[slot]!;
      changes.push({ seq: this.seqs[slot]!, table: this.tables[slot]!, key: this.keys[slot]!, json: this.bytes.toString('utf8', offset, offset + this.lengths[slot]!) });
    }
    return changes;
  }

  /** Forgets everything: history restarted at `seq`. */
  reset(seq: number): void {
    this.tables.fill('');
    this.keys.fill('');
    this.count = 0;
    this.end = 0;
    this.floor = seq;
  }

  /** Where `length` bytes fit after the newest entry (wrapping to the start), or -1. */
  private place(length: number): number {
    if (this.count === 0) return length <= this.bytes.length ? 0 : -1;
    const oldest = this.offsets[this.first]!;
    if (this.end > oldest) {
      if (this.end + length <= this.bytes.length) return this.end;
      return length <= oldest ? 0 : -1;
    }
    return this.end + length <= oldest ? this.end : -1;
  }

  private dropOldest(): void {
    const slot = this.first;
    // Changes of one commit share a seq: once one of them is gone, that seq is no longer whole.
    this.floor = this.seqs[slot]!;
    this.tables[slot] = ''; // not kept alive by a slot no entry uses
    this.keys[slot] = '';
    this.first = (slot + 1) % this.seqs.length;
    this.count--;
  }

  /** Doubles the slots (at most to `maxChanges`), the entries moved to the first ones in order. */
  private growSlots(): void {
    const capacity = Math.min(this.maxChanges, Math.max(INITIAL_CHANGES, this.seqs.length * 2));
    const slots = Array.from({ length: this.count }, (_, i) => (this.first + i) % this.seqs.length);
    const seqs = new Float64Array(capacity);
    const offsets = new Uint32Array(capacity);
    const lengths = new Uint32Array(capacity);
    slots.forEach((slot, i) => {
      seqs[i] = this.seqs[slot]!;
      offsets[i] = this.offsets[slot]!;
      lengths[i] = this.lengths[slot]!;
    });
    this.seqs = seqs;
    this.offsets = offsets;
    this.lengths = lengths;
    this.tables = slots.map((slot) => this.tables[slot]!);
    this.keys = slots.map((slot) => this.keys[slot]!);
    this.first = 0;
  }

  /** Doubles the ring (at least to fit `length`, at most to `maxBytes`), its entries moved to its start in order. */
  private growBytes(length: number): void {
    let capacity = Math.max(INITIAL_BYTES, this.bytes.length * 2);
    while (capacity < length) capacity *= 2;
    const bytes = Buffer.allocUnsafe(Math.min(this.maxBytes, capacity));
    let end = 0;
    for (let i = 0; i < this.count; i++) {
      const slot = (this.first + i) % this.seqs.length;
      const offset = this.offsets[slot]!;
      this.bytes.copy(bytes, end, offset, offset + this.lengths[slot]!);
      this.offsets[slot] = end;
      end += this.lengths[slot]!;
    }
    this.bytes = bytes;
    this.end = end;
  }
}
