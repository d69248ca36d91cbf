/** The names of records and tables: what makes one valid, checked the same way everywhere. */
import { ErrorCode, fail } from '../errors.js';

const TABLE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_KEY_BYTES = 1024;

export function checkTableName(name: unknown): string {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    fail(ErrorCode.INVALID_TABLE_NAME, `Invalid table name ${describeValue(name)}: use 1 to 128 of A-Z a-z 0-9 _ . -`);
  }
  return name;
}

export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) {
    fail(ErrorCode.INVALID_KEY, `Invalid key ${describeValue(key)}: keys are non-empty strings.`);
  }
  // A UTF-16 unit takes at most 3 bytes of UTF-8: count exactly only for long keys.
  if (key.length * 3 > MAX_KEY_BYTES && new TextEncoder().encode(key).length > MAX_KEY_BYTES) {
    fail(ErrorCode.INVALID_KEY, `Invalid key: longer than ${MAX_KEY_BYTES} bytes of UTF-8.`);
  }
  if (!key.isWellFormed()) {
    fail(ErrorCode.INVALID_KEY, 'Invalid key: it holds a lone surrogate, which has no UTF-8 encoding.');
  }
  return key;
}

/** A short description of a value for an error message: never the whole of a large one. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return `a ${typeof value}`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
