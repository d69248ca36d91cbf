import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { open, RxkvError, type Change, type Database, type Json, type Transaction } from 'rxkv';
import { removeTempDirs, tempDir } from './helpers/temp.js';

/*
 * Model-based test: random sequences of every write verb (and transactions, and reopening) run
 * against a durable database and against a plain Map model with reference implementations of
 * RFC 7396 and of each verb. After every command the whole database must equal the model: every
 * record of every table in key order, with its version; the seq must advance by exactly one per
 * commit that changes something; and the change events must be exactly the records that changed,
 * with patches that replay `previous` to `value` under fast-json-patch.
 */

const TABLES = ['alpha', 'beta', 'gamma.1'];
// '😀' sorts before '\uffff' in JavaScript string order but after it in UTF-8 (RocksDB's order).
const KEYS = ['a', 'b', 'c', 'a/b', 'e~f', 'é', '😀', '\uffff', ' '];
const MEMBERS = ['a', 'b', 'n', 'x', 'c/d', 'e~f'];

// ---------------------------------------------------------------------------------------------
// Reference implementations
// ---------------------------------------------------------------------------------------------

const hasOwn = (object: object, member: string): boolean => Object.prototype.hasOwnProperty.call(object, member);

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7396 section 2, to the letter. */
function mergePatchRef(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const member of Object.keys(patch)) {
    const value = patch[member]!;
    if (value === null) delete out[member];
    else out[member] = mergePatchRef(hasOwn(out, member) ? out[member] : undefined, value);
  }
  return out;
}

/** Deep equality of JSON values, whatever the member order. */
function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  const members = Object.keys(a);
  return members.length === Object.keys(b).length && members.every((member) => hasOwn(b, member) && jsonEqual(a[member], b[member]));
}

class Refused extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function incrementRef(current: Json | undefined, path: readonly string[], by: number): Json {
  let node: Json | undefined = current;
  for (const member of path) {
    if (node === undefined) break;
    if (!isObject(node)) throw new Refused('NOT_A_NUMBER');
    node = hasOwn(node, member) ? node[member] : undefined;
  }
  if (node !== undefined && typeof node !== 'number') throw new Refused('NOT_A_NUMBER');
  let patch: Json = (node ?? 0) + by;
  for (let i = path.length - 1; i >= 0; i--) patch = { [path[i]!]: patch };
  return mergePatchRef(current, patch);
}

/** One write of one record, standalone or inside a transaction. */
type WriteOp =
  | { verb: 'merge'; patch: Json }
  | { verb: 'update'; patch: Json }
  | { verb: 'put'; value: Json }
  | { verb: 'delete' }
  | { verb: 'increment'; path: 'n' | 'a.b'; by: number }
  | { verb: 'produce'; member: string; value: Json };

/** The record after `op` (undefined: absent) and what the write resolves with; throws `Refused`. */
function applyRef(current: Json | undefined, op: WriteOp): { next: Json | undefined; result: Json | undefined } {
  switch (op.verb) {
    case 'merge': {
      const next = mergePatchRef(current, op.patch);
      return { next, result: next };
    }
    case 'update': {
      if (current === undefined) return { next: undefined, result: undefined };
      const next = mergePatchRef(current, op.patch);
      return { next, result: next };
    }
    case 'put':
      return { next: op.value, result: op.value };
    case 'delete':
      return { next: undefined, result: undefined };
    case 'increment': {
      const next = incrementRef(current, op.path.split('.'), op.by);
      return { next, result: next };
    }
    case 'produce': {
      // The recipe sets a member of an object draft and replaces anything else by a new object;
      // the draft of an absent record (or of null) is {}.
      const next: Json = isObject(current) ? { ...current, [op.member]: op.value } : { [op.member]: op.value };
      return { next, result: next };
    }
  }
}

/** The recipe `produce` runs for `op`. */
function recipe(member: string, value: Json): (draft: Json) => Json | undefined {
  return (draft) => {
    if (isObject(draft)) {
      draft[member] = structuredClone(value);
      return undefined;
    }
    return { [member]: structuredClone(value) };
  };
}

interface TableLike {
  merge(key: string, patch: Json, options?: { ifVersion?: number }): unknown;
  update(key: string, patch: Json, options?: { ifVersion?: number }): unknown;
  put(key: string, value: Json, options?: { ifVersion?: number }): unknown;
  delete(key: string, options?: { ifVersion?: number }): unknown;
  increment(key: string, path: string, by: number, options?: { ifVersion?: number }): unknown;
  produce(key: string, recipe: (draft: Json) => Json | undefined, options?: { ifVersion?: number }): unknown;
}

/** Calls the verb of `op` on a table or a transaction's table. */
function applyReal(table: TableLike, key: string, op: WriteOp, options?: { ifVersion?: number }): unknown {
  switch (op.verb) {
    case 'merge':
      return table.merge(key, op.patch, options);
    case 'update':
      return table.update(key, op.patch, options);
    case 'put':
      return table.put(key, op.value, options);
    case 'delete':
      return table.delete(key, options);
    case 'increment':
      return table.increment(key, op.path, op.by, options);
    case 'produce':
      return table.produce(key, recipe(op.member, op.value), options);
  }
}

const describeOp = (op: WriteOp): string => {
  const { verb, ...args } = op;
  return `${verb}(${JSON.stringify(args)})`;
};

// ---------------------------------------------------------------------------------------------
// Model and real system
// ---------------------------------------------------------------------------------------------

interface Stored {
  value: Json;
  version: number;
}

interface Model {
  tables: Map<string, Map<string, Stored>>;
  seq: number;
}

interface Real {
  db: Database;
  dir: string;
  changes: Change[];
}

async function openReal(real: Real): Promise<void> {
  real.db = await open(real.dir);
  real.db.changes().subscribe((change) => real.changes.push(change));
}

const copyTables = (tables: Map<string, Map<string, Stored>>): Map<string, Map<string, Stored>> =>
  new Map([...tables].map(([name, records]) => [name, new Map(records)]));

const byKey = <T>([a]: [string, T], [b]: [string, T]): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Commits the expected state `after` (values only; versions are assigned here) into the model
 * and checks the real database against it: seq, change events, every record and its version.
 */
function commitAndCheck(model: Model, real: Real, after: Map<string, Map<string, Json | undefined>>, label: string): void {
  const changed: { table: string; key: string; previous: Json | undefined; value: Json | undefined }[] = [];
  for (const [table, records] of after) {
    for (const [key, value] of records) {
      const previous = model.tables.get(table)?.get(key)?.value;
      const existed = model.tables.get(table)?.has(key) ?? false;
      if (existed !== (value !== undefined) || !jsonEqual(previous, value)) changed.push({ table, key, previous: existed ? previous : undefined, value });
    }
  }
  assert.ok(real.db.seq >= model.seq, `${label}: seq went back from ${model.seq} to ${real.db.seq}`);
  const seq = changed.length > 0 ? model.seq + 1 : model.seq;
  assert.equal(real.db.seq, seq, `${label}: seq (${changed.length} records changed)`);
  model.seq = seq;
  for (const { table, key, value } of changed) {
    let records = model.tables.get(table);
    if (records === undefined) model.tables.set(table, (records = new Map()));
    if (value === undefined) records.delete(key);
    else records.set(key, { value, version: seq });
  }

  // The change events: one per changed record, all of this commit.
  const events = real.changes.splice(0);
  const id = (table: string, key: string) => JSON.stringify([table, key]);
  assert.deepEqual(events.map((e) => id(e.table, e.key)).sort(), changed.map((c) => id(c.table, c.key)).sort(), `${label}: the records of the change events`);
  for (const event of events) {
    const expected = changed.find((c) => c.table === event.table && c.key === event.key)!;
    const where = `${label}: change of ${event.table}/${event.key}`;
    assert.equal(event.seq, seq, `${where}: seq`);
    assert.equal(event.op, expected.previous === undefined ? 'new' : expected.value === undefined ? 'delete' : 'merge', `${where}: op`);
    assert.deepEqual(event.value, expected.value, `${where}: value`);
    assert.deepEqual(event.previous, expected.previous, `${where}: previous`);
    const document: { root?: unknown } = event.previous === undefined ? {} : { root: jsonpatch.deepClone(event.previous) };
    const ops = event.patch.map((op) => ({ ...op, path: '/root' + op.path }));
    const replayed = jsonpatch.applyPatch(document, ops as never, true, true).newDocument as { root?: unknown };
    assert.deepEqual(replayed.root, event.value, `${where}: the patch does not replay previous to value`);
  }
  checkAll(model, real, label);
}

/** Every table of the database, in key order, with versions, equals the model. */
function checkAll(model: Model, real: Real, label: string): void {
  for (const name of TABLES) {
    const table = real.db.table(name);
    const expected = [...(model.tables.get(name) ?? new Map<string, Stored>())].sort(byKey);
    assert.deepEqual([...table.entries()], expected.map(([key, { value }]) => [key, value]), `${label}: table ${name}`);
    assert.equal(table.size, expected.length, `${label}: size of ${name}`);
    for (const [key, { version }] of expected) assert.equal(table.meta(key)?.version, version, `${label}: version of ${name}/${key}`);
  }
}

/** Runs `act`, expecting it to settle like `expected` (a result, or a Refused with a code). */
async function settle(act: () => unknown, label: string, expected: { result: Json | undefined } | Refused | Error): Promise<void> {
  let result: unknown;
  try {
    result = await act();
  } catch (error) {
    if (expected instanceof Refused) {
      assert.ok(error instanceof RxkvError, `${label}: expected an RxkvError, got ${String(error)}`);
      assert.equal(error.code, expected.code, `${label}: error code`);
    } else if (expected instanceof Error) {
      assert.equal(error, expected, `${label}: rejected with another error`);
    } else {
      throw error;
    }
    return;
  }
  assert.ok(!(expected instanceof Error), `${label}: resolved, expected ${expected instanceof Error ? expected.message : ''}`);
  assert.deepEqual(result, expected.result, `${label}: result`);
}

type Versioned = 'none' | 'right' | 'wrong';

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

class WriteCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly table: string,
    readonly key: string,
    readonly op: WriteOp,
    readonly versioned: Versioned,
  ) {}

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const label = this.toString();
    const before = model.tables.get(this.table)?.get(this.key);
    const version = before?.version ?? 0;
    const options = this.versioned === 'none' ? undefined : { ifVersion: this.versioned === 'right' ? version : version + 1 };
    let expected: { next: Json | undefined; result: Json | undefined } | Refused;
    try {
      expected = this.versioned === 'wrong' ? new Refused('CONFLICT') : applyRef(before?.value, this.op);
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      expected = error;
    }
    await settle(() => applyReal(real.db.table(this.table), this.key, this.op, options), label, expected);
    const after = new Map([[this.table, new Map([[this.key, expected instanceof Refused ? before?.value : expected.next]])]]);
    commitAndCheck(model, real, after, label);
  }

  toString(): string {
    const versioned = this.versioned === 'none' ? '' : ` ifVersion ${this.versioned}`;
    return `${this.table}/${JSON.stringify(this.key)} ${describeOp(this.op)}${versioned}`;
  }
}

class ClearCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly table: string) {}

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const records = model.tables.get(this.table) ?? new Map<string, Stored>();
    await settle(() => real.db.table(this.table).clear(), this.toString(), { result: records.size });
    commitAndCheck(model, real, new Map([[this.table, new Map([...records.keys()].map((key) => [key, undefined]))]]), this.toString());
  }

  toString(): string {
    return `${this.table} clear()`;
  }
}

interface TxWrite {
  table: 0 | 1;
  key: string;
  op: WriteOp;
}

const ABORT = new Error('abort');

class TransactionCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly tables: [string, string],
    readonly writes: TxWrite[],
    readonly abort: boolean,
  ) {}

  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    const label = this.toString();
    // The model: the writes in order over a working copy; all or nothing.
    const working = copyTables(model.tables);
    const touched = new Map<string, Map<string, Json | undefined>>();
    const results: (Json | undefined)[] = [];
    let failure: Refused | Error | undefined;
    for (const write of this.writes) {
      const table = this.tables[write.table];
      const current = working.get(table)?.get(write.key)?.value;
      try {
        const { next, result } = applyRef(current, write.op);
        results.push(result);
        if (!touched.has(table)) touched.set(table, new Map());
        touched.get(table)!.set(write.key, next);
        if (!working.has(table)) working.set(table, new Map());
        if (next === undefined) working.get(table)!.delete(write.key);
        else working.get(table)!.set(write.key, { value: next, version: 0 });
      } catch (error) {
        if (!(error instanceof Refused)) throw error;
        failure = error;
        break;
      }
    }
    if (failure === undefined && this.abort) failure = ABORT;

    const returned: unknown[] = [];
    await settle(
      () =>
        real.db.transaction((tx: Transaction) => {
          for (const write of this.writes) returned.push(applyReal(tx.table<Json>(this.tables[write.table]), write.key, write.op));
          if (this.abort) throw ABORT;
          return returned.length;
        }),
      label,
      failure ?? { result: this.writes.length },
    );
    if (failure === undefined) assert.deepEqual(returned, results, `${label}: what the writes returned inside the transaction`);
    commitAndCheck(model, real, failure === undefined ? touched : new Map(), label);
  }

  toString(): string {
    const writes = this.writes.map((w) => `${this.tables[w.table]}/${JSON.stringify(w.key)} ${describeOp(w.op)}`);
    return `transaction[${writes.join('; ')}${this.abort ? '; throw' : ''}]`;
  }
}

class ReopenCommand implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }

  async run(model: Model, real: Real): Promise<void> {
    await real.db.close();
    await openReal(real);
    assert.equal(real.db.seq, model.seq, 'seq after reopening');
    assert.deepEqual(real.changes, [], 'changes after reopening');
    checkAll(model, real, 'after reopening');
  }

  toString(): string {
    return 'reopen';
  }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const member = fc.constantFrom(...MEMBERS);
const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -100, max: 100 }),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant(null),
);
const toObject = (members: readonly (readonly [string, Json])[]): Json => Object.fromEntries(members) as Json;
const { value: jsonValue, patchObject } = fc.letrec<{ value: Json; object: Json; patchObject: Json }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, scalar, tie('object'), fc.array(tie('value'), { maxLength: 3 })),
  object: fc.array(fc.tuple(member, tie('value')), { maxLength: 4 }).map(toObject),
  // A merge patch: members set (possibly to objects merged in turn) or removed with null.
  patchObject: fc
    .array(fc.tuple(member, fc.oneof({ depthSize: 'small', maxDepth: 3 }, fc.constant(null), tie('value'), tie('patchObject'))), { maxLength: 4 })
    .map(toObject),
}));
const patch = fc.oneof({ weight: 6, arbitrary: patchObject }, { weight: 1, arbitrary: jsonValue });

const writeOp: fc.Arbitrary<WriteOp> = fc.oneof(
  { weight: 4, arbitrary: patch.map((p) => ({ verb: 'merge' as const, patch: p })) },
  { weight: 2, arbitrary: patch.map((p) => ({ verb: 'update' as const, patch: p })) },
  { weight: 3, arbitrary: jsonValue.map((value) => ({ verb: 'put' as const, value })) },
  { weight: 2, arbitrary: fc.constant({ verb: 'delete' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      verb: fc.constant('increment' as const),
      path: fc.constantFrom('n' as const, 'a.b' as const),
      by: fc.integer({ min: -1000, max: 1000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ verb: fc.constant('produce' as const), member, value: jsonValue }) },
);
const tableName = fc.constantFrom(...TABLES);
const key = fc.constantFrom(...KEYS);

const write = fc
  .tuple(tableName, key, writeOp, fc.constantFrom<Versioned>('none', 'none', 'none', 'none', 'right', 'wrong'))
  .map(([table, k, op, versioned]) => new WriteCommand(table, k, op, versioned));
const transaction = fc
  .tuple(
    fc.shuffledSubarray(TABLES, { minLength: 2, maxLength: 2 }),
    fc.array(fc.record({ table: fc.constantFrom<0 | 1>(0, 1), key, op: writeOp }), { minLength: 2, maxLength: 4 }),
    fc.constantFrom(false, false, false, false, true),
  )
  .map(([tables, writes, abort]) => new TransactionCommand(tables as [string, string], writes, abort));
// fc.commands picks among its arbitraries uniformly: single writes are listed several times.
const commands = fc.commands(
  [
    ...Array.from({ length: 8 }, () => write),
    tableName.map((table) => new ClearCommand(table)),
    transaction,
    transaction,
    fc.constant(new ReopenCommand()),
  ],
  { maxCommands: 30, size: 'max' },
);

describe('The database against a Map model', () => {
  afterAll(() => removeTempDirs());

  it('should hold every table equal to the model over random sequences of every verb, transactions and reopening', async () => {
    await fc.assert(
      fc.asyncProperty(commands, async (sequence) => {
        const dir = tempDir('rxkv-model');
        const real: Real = { db: undefined as unknown as Database, dir, changes: [] };
        await openReal(real);
        try {
          await fc.asyncModelRun(() => ({ model: { tables: new Map(), seq: real.db.seq }, real }), sequence);
        } finally {
          await real.db.close();
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 600 },
    );
  }, 180_000);

  it('should refuse to increment a member holding null with NOT_A_NUMBER', async () => {
    const db = await open(tempDir('rxkv-model'), { durability: 'memory' });
    try {
      const t = db.table('t');
      await t.put('k', { n: null, a: { b: null } });
      const codes: (string | undefined)[] = [];
      for (const path of ['n', 'a.b']) {
        codes.push(await t.increment('k', path, 1).then(() => undefined, (error: RxkvError) => error.code));
      }
      expect(codes).toEqual(['NOT_A_NUMBER', 'NOT_A_NUMBER']);
      expect(t.get('k')).toEqual({ n: null, a: { b: null } });
    } finally {
      await db.close();
    }
  });
});
