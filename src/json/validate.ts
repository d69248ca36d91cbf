import { ErrorCode, RxkvError } from '../errors.js';
import type { Json } from './types.js';
import { hasOwn, setMember } from './object.js';
import { toPointer } from './pointer.js';

/** Deeper values are refused: every walk over a record (merge, diff, encode) recurses. */
export const MAX_DEPTH = 256;

/**
 * Validates `input` as plain JSON and returns a deep, frozen copy of it, so that the caller may
 * go on mutating its object while the write waits in the pipeline. Throws `INVALID_VALUE` for
 * anything that is not plain JSON and `VALUE_TOO_LARGE` when the JSON text would surely exceed
 * `maxBytes` (a lower bound is counted here; the exact size is checked when the record is encoded).
 */
export function toFrozenJson(input: unknown, maxBytes: number, subject = 'value'): Json {
  budget = maxBytes;
  try {
    return quickCopy(input, 0);
  } catch (error) {
    if (error !== BAIL) throw error;
  }
  // Something unusual: the careful copier names the problem and where it is (or copies it).
  return new Copier(maxBytes, subject).start(input);
}

/** Thrown by `quickCopy` to hand over to the careful copier. */
const BAIL = new Error('bail');
let budget = 0;

/**
 * The common case, kept lean because every write pays it: plain objects, arrays and scalars,
 * no path kept, no message built. Anything else bails out.
 */
function quickCopy(value: unknown, depth: number): Json {
  switch (typeof value) {
    case 'string':
      if ((budget -= value.length + 2) < 0) throw BAIL;
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw BAIL;
      budget -= 1;
      return value;
    case 'boolean':
      budget -= 4;
      return value;
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_DEPTH) throw BAIL;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) throw BAIL;
        const length = value.length;
        const out = new Array<Json>(length);
        for (let i = 0; i < length; i++) {
          if (!(i in value)) throw BAIL;
          out[i] = quickCopy(value[i], depth + 1);
        }
        return Object.freeze(out) as Json[];
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw BAIL;
      const out: Record<string, Json> = {};
      // for-in walks the enum cache without allocating the array Object.keys would.
      for (const member in value) {
        if (!hasOwn(value, member)) continue;
        if (member === '__proto__' || (budget -= member.length + 3) < 0) throw BAIL;
        out[member] = quickCopy((value as Record<string, unknown>)[member], depth + 1);
      }
      return Object.freeze(out);
    }
    default:
      throw BAIL;
  }
}

class Copier {
  private bytes = 0;
  private readonly path: (string | number)[] = [];
  private root: unknown;

  constructor(
    private readonly maxBytes: number,
    private readonly subject: string,
  ) {}

  start(input: unknown): Json {
    this.root = input;
    return this.copy(input, 0);
  }

  private copy(value: unknown, depth: number): Json {
    switch (typeof value) {
      case 'string':
        this.count(value.length + 2);
        return value;
      case 'boolean':
        this.count(4);
        return value;
      case 'number':
        if (!Number.isFinite(value)) this.refuse(`${value} is not a JSON number`);
        this.count(1);
        return value;
      case 'object':
        if (value === null) {
          this.count(4);
          return null;
        }
        if (depth >= MAX_DEPTH) this.refuseDepth(value);
        return Array.isArray(value) ? this.copyArray(value, depth) : this.copyObject(value, depth);
      case 'undefined':
        return this.refuse('undefined is not JSON (leave the member out, or use null)');
      default:
        return this.refuse(`a ${typeof value} is not JSON`);
    }
  }

  private copyArray(input: unknown[], depth: number): Json[] {
    if (Object.getPrototypeOf(input) !== Array.prototype) this.refuse('an Array subclass is not plain JSON');
    this.count(2);
    const length = input.length;
    const out = new Array<Json>(length);
    for (let i = 0; i < length; i++) {
      if (!(i in input)) this.refuse(`a sparse array (hole at index ${i}) is not JSON`);
      this.path.push(i);
      out[i] = this.copy(input[i], depth + 1);
      this.path.pop();
    }
    return Object.freeze(out) as Json[];
  }

  private copyObject(input: object, depth: number): Json {
    const proto = Object.getPrototypeOf(input);
    if (proto !== Object.prototype && proto !== null) {
      const name = (input as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      this.refuse(`a ${name} is not a plain JSON object (convert it, e.g. a Date to an ISO string)`);
    }
    this.count(2);
    const out: Record<string, Json> = {};
    for (const member of Object.keys(input)) {
      this.count(member.length + 3);
      this.path.push(member);
      setMember(out, member, this.copy((input as Record<string, unknown>)[member], depth + 1));
      this.path.pop();
    }
    return Object.freeze(out);
  }

  private count(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) {
      throw new RxkvError(
        ErrorCode.VALUE_TOO_LARGE,
        `The ${this.subject} is larger than maxValueBytes (${this.maxBytes} bytes): split it over several records, or raise maxValueBytes in open().`,
      );
    }
  }

  private refuseDepth(value: object): never {
    // A cycle always ends up here; tell it apart from honest deep nesting.
    const ancestors = new Set<unknown>();
    let node: unknown = this.root;
    for (const token of this.path) {
      ancestors.add(node);
      node = (node as Record<string | number, unknown>)[token];
    }
    if (ancestors.has(value)) this.refuse('a cycle (the value contains itself) is not JSON');
    return this.refuse(`nesting deeper than ${MAX_DEPTH} levels is not supported`);
  }

  private refuse(why: string): never {
    const where = this.path.length === 0 ? '' : ` at ${toPointer(this.path)}`;
    throw new RxkvError(ErrorCode.INVALID_VALUE, `Invalid ${this.subject}${where}: ${why}.`);
  }
}

/**
 * Checks that `value` is plain JSON, walking only the parts that are not shared with
 * `previous` (which is known to be valid): the cost of checking an Immer recipe's result.
 */
export function assertJson(value: unknown, previous: unknown, subject = 'value'): void {
  checkShared(value, previous, 0, [], subject);
}

function checkShared(value: unknown, previous: unknown, depth: number, path: (string | number)[], subject: string): void {
  // A subtree shared with the valid previous value is valid (undefined is never valid JSON).
  if (value === previous && value !== undefined) return;
  if (isPlainContainer(value)) {
    if (depth >= MAX_DEPTH) {
      throw new RxkvError(ErrorCode.INVALID_VALUE, `Invalid ${subject} at ${toPointer(path)}: nesting deeper than ${MAX_DEPTH} levels is not supported.`);
    }
    const before = typeof previous === 'object' && previous !== null ? (previous as Record<string, unknown>) : undefined;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return reportPrecisely(value, path, subject);
        path.push(i);
        checkShared(value[i], Array.isArray(before) ? before[i] : undefined, depth + 1, path, subject);
        path.pop();
      }
    } else {
      for (const member of Object.keys(value)) {
        path.push(member);
        const old = before !== undefined && hasOwn(before, member) ? before[member] : undefined;
        checkShared((value as Record<string, unknown>)[member], old, depth + 1, path, subject);
        path.pop();
      }
    }
    return;
  }
  reportPrecisely(value, path, subject);
}

function isPlainContainer(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return Array.isArray(value) ? proto === Array.prototype : proto === Object.prototype || proto === null;
}

/** Scalars pass; anything else gets the copying validator's precise error. */
function reportPrecisely(value: unknown, path: (string | number)[], subject: string): void {
  const where = path.length === 0 ? subject : `${subject} at ${toPointer(path)}`;
  toFrozenJson(value, Number.POSITIVE_INFINITY, where);
}
