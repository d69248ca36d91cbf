import { ErrorCode, RxkvError } from '../errors.js';
import { MAX_CLIENT_ID_LENGTH, MAX_RECORDS_PER_PAGE, type ClientMessage, type RecordsRange, type SubscriptionSpec, type WriteOp } from '../sync/protocol.js';

/** The most ops one write may name. */
export const MAX_OPS_PER_WRITE = 1000;

/** A message that failed validation, with the request id to answer when it had a valid one. */
export class BadMessage extends RxkvError {
  constructor(
    readonly id: number | null,
    message: string,
  ) {
    super(ErrorCode.BAD_MESSAGE, message);
  }
}

type Fields = Record<string, unknown>;

/**
 * Parses and checks one client message. Only what this returns reaches the database: every field
 * is of the type the protocol says, and nothing else of the message is read.
 */
export function parseClientMessage(text: string): ClientMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadMessage(null, 'A message must be one JSON object; this one is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadMessage(null, 'A message must be a JSON object with a "type".');
  }
  const fields = parsed as Fields;
  const type = own(fields, 'type');
  if (type === 'hello') {
    const v = own(fields, 'v');
    const token = own(fields, 'token');
    const client = own(fields, 'client');
    if (!isCount(v)) throw new BadMessage(null, 'hello needs "v", the protocol version (an integer).');
    if (token !== undefined && typeof token !== 'string') throw new BadMessage(null, 'hello: "token" must be a string.');
    if (client !== undefined && !(typeof client === 'string' && client.length > 0 && client.length <= MAX_CLIENT_ID_LENGTH)) {
      throw new BadMessage(null, `hello: "client" must be a string of 1 to ${MAX_CLIENT_ID_LENGTH} characters.`);
    }
    return { type, v, ...(token === undefined ? {} : { token }), ...(client === undefined ? {} : { client: client as string }) };
  }
  if (type === 'ping') return { type };
  const rawId = own(fields, 'id');
  const id = isCount(rawId) ? rawId : null;
  const bad = (message: string): never => {
    throw new BadMessage(id, `${String(type)}: ${message}`);
  };
  if (type !== 'subscribe' && type !== 'unsubscribe' && type !== 'write' && type !== 'dump' && type !== 'inspect' && type !== 'records') {
    throw new BadMessage(id, `Unknown message type ${JSON.stringify(type)}: expected subscribe, unsubscribe, write, dump, inspect, records or ping.`);
  }
  if (id === null) bad('"id" must be a non-negative integer.');
  const requestId = id!;
  if (type === 'dump') return { type, id: requestId };
  if (type === 'inspect') {
    const what = own(fields, 'what');
    if (what !== 'tables' && what !== 'server') bad('"what" must be "tables" or "server".');
    return { type, id: requestId, what: what as 'tables' | 'server' };
  }
  if (type === 'records') {
    const table = own(fields, 'table');
    if (typeof table !== 'string') bad('"table" must be a string.');
    return { type, id: requestId, table: table as string, range: recordsRange(own(fields, 'range'), bad) };
  }
  if (type === 'subscribe') {
    const subs = list(own(fields, 'subs'), 'subs', bad).map((sub) => subscription(sub, bad));
    const since = own(fields, 'since');
    const history = own(fields, 'history');
    if (since !== undefined && !isCount(since)) bad('"since" must be a seq (a non-negative integer).');
    if (history !== undefined && typeof history !== 'string') bad('"history" must be the history id of the welcome the position was reached under (a string).');
    if ((since === undefined) !== (history === undefined)) bad('"since" and "history" come together: a position is a (history, seq) pair.');
    return since === undefined ? { type, id: requestId, subs } : { type, id: requestId, subs, since: since as number, history: history as string };
  }
  if (type === 'unsubscribe') {
    const subs = list(own(fields, 'subs'), 'subs', bad);
    if (!subs.every(isCount)) bad('"subs" must list subscription numbers.');
    return { type, id: requestId, subs: subs as number[] };
  }
  const ops = list(own(fields, 'ops'), 'ops', bad);
  if (ops.length > MAX_OPS_PER_WRITE) bad(`at most ${MAX_OPS_PER_WRITE} ops per write.`);
  const m = own(fields, 'm');
  const ack = own(fields, 'ack');
  if (m !== undefined && !(isCount(m) && m > 0)) bad('"m" must be a mutation number (a positive integer).');
  if (ack !== undefined && !(isCount(ack) && m !== undefined && ack < (m as number))) bad('"ack" must be a mutation number below "m".');
  const write = { type: 'write' as const, id: requestId, ops: ops.map((op) => writeOp(op, bad)) };
  return m === undefined ? write : { ...write, m: m as number, ...(ack === undefined ? {} : { ack: ack as number }) };
}

function subscription(value: unknown, bad: (message: string) => never): SubscriptionSpec {
  if (!isObject(value)) bad('each of "subs" must be an object { sub, table, key | keys | prefix }.');
  const fields = value as Fields;
  const sub = own(fields, 'sub');
  const table = own(fields, 'table');
  const key = own(fields, 'key');
  const keys = own(fields, 'keys');
  const prefix = own(fields, 'prefix');
  const tail = own(fields, 'tail');
  if (!isCount(sub)) bad('"sub" must be a non-negative integer.');
  if (typeof table !== 'string') bad('"table" must be a string.');
  if (tail !== undefined && tail !== true) bad('"tail" must be true when given.');
  const given = (key !== undefined ? 1 : 0) + (keys !== undefined ? 1 : 0) + (prefix !== undefined ? 1 : 0);
  if (given > 1) bad('a subscription takes at most one of "key", "keys" and "prefix".');
  const base = tail === true ? { sub: sub as number, table: table as string, tail: true } : { sub: sub as number, table: table as string };
  if (key !== undefined) {
    if (typeof key !== 'string') bad('"key" must be a string.');
    return { ...base, key: key as string };
  }
  if (keys !== undefined) {
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) bad('"keys" must be a non-empty array of strings.');
    return { ...base, keys: [...(keys as string[])] };
  }
  if (prefix !== undefined) {
    if (typeof prefix !== 'string') bad('"prefix" must be a string.');
    return { ...base, prefix: prefix as string };
  }
  return base;
}

function writeOp(value: unknown, bad: (message: string) => never): WriteOp {
  if (!isObject(value)) bad('each of "ops" must be an object { op, table, key, value }.');
  const fields = value as Fields;
  const op = own(fields, 'op');
  const table = own(fields, 'table');
  const key = own(fields, 'key');
  if (typeof table !== 'string') bad('"table" must be a string.');
  if (typeof key !== 'string') bad('"key" must be a string.');
  if (op === 'delete') return { op, table: table as string, key: key as string };
  if (op !== 'merge' && op !== 'put') bad(`unknown op ${JSON.stringify(op)}: expected merge, put or delete.`);
  const written = own(fields, 'value');
  if (written === undefined) bad(`${String(op)} needs a "value".`);
  return { op: op as 'merge' | 'put', table: table as string, key: key as string, value: written as never };
}

function recordsRange(value: unknown, bad: (message: string) => never): RecordsRange {
  if (value === undefined) return {};
  if (!isObject(value)) bad('"range" must be an object { prefix, gt, gte, lt, lte, limit, reverse }.');
  const fields = value as Fields;
  const range: Record<string, unknown> = {};
  for (const bound of ['prefix', 'gt', 'gte', 'lt', 'lte'] as const) {
    const given = own(fields, bound);
    if (given === undefined) continue;
    if (typeof given !== 'string') bad(`"range.${bound}" must be a string.`);
    range[bound] = given;
  }
  const limit = own(fields, 'limit');
  if (limit !== undefined && !(isCount(limit) && limit > 0 && limit <= MAX_RECORDS_PER_PAGE)) bad(`"range.limit" must be an integer from 1 to ${MAX_RECORDS_PER_PAGE}.`);
  const reverse = own(fields, 'reverse');
  if (reverse !== undefined && typeof reverse !== 'boolean') bad('"range.reverse" must be a boolean.');
  return { ...range, ...(limit === undefined ? {} : { limit: limit as number }), ...(reverse === undefined ? {} : { reverse: reverse as boolean }) };
}

function list(value: unknown, name: string, bad: (message: string) => never): unknown[] {
  if (!Array.isArray(value) || value.length === 0) bad(`"${name}" must be a non-empty array.`);
  return value as unknown[];
}

/** Reads an own member only: `JSON.parse` makes `__proto__` an own member, never the prototype. */
function own(fields: Fields, name: string): unknown {
  return Object.hasOwn(fields, name) ? fields[name] : undefined;
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
