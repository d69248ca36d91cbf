import { Entry } from '../model/record.js';
import { ErrorCode, RxkvError } from '../errors.js';
import { deepFreeze } from '../json/freeze.js';
import type { Json } from '../json/types.js';

/**
 * The on-disk layout, in one RocksDB keyspace:
 *   'r' + table + '\0' + key  ->  '[version,created,updated,' + JSON of the value + ']'
 *   'mseq'                    ->  the seq of the last commit, in decimal
 *   'mhistory'                ->  the history id (see Storage.startHistory)
 *   't' + table + '\0' + key  ->  'seq,ts' of the record's last delete, while kept (see DeleteRecord)
 *   'mdeletes'                ->  the seq up to which deletes are no longer kept, in decimal
 *   'mcopying'                ->  present while a backup is being written into this store
 * Table names never contain '\0', so each table is one contiguous key range in key order.
 */
export const RECORD_PREFIX = 'r';
export const RECORDS_END = 's';
export const SEQ_KEY = 'mseq';
export const HISTORY_KEY = 'mhistory';

export const DELETE_PREFIX = 't';
export const DELETES_END = 'u';
export const DELETES_FLOOR_KEY = 'mdeletes';
export const COPYING_KEY = 'mcopying';

export function recordKey(table: string, key: string): string {
  return RECORD_PREFIX + table + '\u0000' + key;
}

export function deleteKey(table: string, key: string): string {
  return DELETE_PREFIX + table + '\u0000' + key;
}

/** Encodes a record; throws `VALUE_TOO_LARGE` when its JSON exceeds `maxBytes` of UTF-8. */
export function encodeEntry(entry: Entry, maxBytes: number): string {
  const json = JSON.stringify(entry.value);
  // UTF-8 takes between 1 and 3 bytes per UTF-16 unit: count exactly only when it matters.
  if (json.length * 3 > maxBytes && (json.length > maxBytes || Buffer.byteLength(json) > maxBytes)) {
    throw new RxkvError(
      ErrorCode.VALUE_TOO_LARGE,
      `The record would be larger than maxValueBytes (${maxBytes} bytes of JSON): split it over several records, or raise maxValueBytes in open().`,
    );
  }
  const created = (entry.createdText ??= timeText(entry.created));
  return '[' + entry.version + ',' + created + ',' + timeText(entry.updated) + ',' + json + ']';
}

let lastTime = -1;
let lastTimeText = '';

/**
 * A millisecond timestamp as decimal text. Converting a double this large costs about 140 ns:
 * every record of a batch shares the batch's time, so the last one is kept, and the others are
 * converted as two small integers (about 30 ns).
 */
function timeText(time: number): string {
  if (time === lastTime) return lastTimeText;
  const high = Math.floor(time / 1e6);
  const text = high === 0 ? String(time) : high + String(1e6 + (time - high * 1e6)).slice(1);
  lastTime = time;
  lastTimeText = text;
  return text;
}

export function decodeEntry(encoded: string): Entry {
  const [version, created, updated, value] = JSON.parse(encoded) as [number, number, number, Json];
  return new Entry(deepFreeze(value), created, updated, version);
}
