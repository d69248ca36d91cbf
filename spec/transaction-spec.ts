import { open, type Change, type Database } from 'rxkv';
import { openTemp, rejectedCode, thrownCode } from './helpers/db.js';
import { removeTempDirs } from './helpers/temp.js';

describe('Database.transaction', () => {
  let db: Database;
  let dir: string;

  beforeEach(async () => {
    ({ db, dir } = await openTemp('sync'));
  });

  afterEach(async () => {
    await db.close();
    removeTempDirs();
  });

  it('should commit writes over several tables atomically, with one seq', async () => {
    const changes: Change[] = [];
    db.changes().subscribe((change) => changes.push(change));
    const result = await db.transaction((tx) => {
      tx.table('accounts').merge('a', { plan: 'pro' });
      tx.table('invoices').put('i1', { account: 'a', total: 10 });
      return 'done';
    });
    expect(result).toBe('done');
    expect(db.table('accounts').get('a')).toEqual({ plan: 'pro' });
    expect(db.table('invoices').get('i1')).toEqual({ account: 'a', total: 10 });
    expect(changes.map((c) => c.table)).toEqual(['accounts', 'invoices']);
    expect(changes[0]!.seq).toBe(changes[1]!.seq);
  });

  it('should see the state every earlier write left, and its own writes', async () => {
    const accounts = db.table<{ balance: number }>('accounts');
    await accounts.put('a', { balance: 100 });
    accounts.increment('a', 'balance', 5); // called before, so applied before
    const moved = await db.transaction((tx) => {
      const t = tx.table<{ balance: number }>('accounts');
      const from = t.get('a')!;
      t.merge('a', { balance: from.balance - 30 });
      t.increment('b', 'balance', 30);
      return t.get('a')!.balance;
    });
    expect(moved).toBe(75);
    expect(accounts.get('a')).toEqual({ balance: 75 });
    expect(accounts.get('b')).toEqual({ balance: 30 });
  });

  it("should give a record's metadata as the transaction sees it: the committed one, then its own write's at the commit's seq", async () => {
    const accounts = db.table('accounts');
    await accounts.put('a', { n: 1 });
    const before = accounts.meta('a')!;
    const seen = await db.transaction((tx) => {
      const t = tx.table('accounts');
      const read = t.meta('a');
      t.merge('a', { n: 2 });
      return { read, written: t.meta('a'), absent: t.meta('nobody'), commitSeq: tx.commitSeq };
    });
    expect(seen.read).toEqual(before);
    expect(seen.written).toEqual({ created: before.created, updated: jasmine.any(Number), version: seen.commitSeq });
    expect(seen.absent).toBeUndefined();
    expect(accounts.meta('a')).toEqual(seen.written!);
  });

  it('should write nothing when the function throws, and reject with its error', async () => {
    await db.table('t').put('k', 1);
    const seq = db.seq;
    await expectAsync(
      db.transaction((tx) => {
        tx.table('t').put('k', 2);
        tx.table('u').put('k', 2);
        throw new Error('changed my mind');
      }),
    ).toBeRejectedWithError('changed my mind');
    expect(db.table('t').get('k')).toBe(1);
    expect(db.table('u').has('k')).toBeFalse();
    expect(db.seq).toBe(seq);
  });

  it('should write nothing when one of its writes conflicts', async () => {
    await db.table('t').put('k', 1);
    const version = db.table('t').meta('k')!.version;
    const code = await rejectedCode(
      db.transaction((tx) => {
        tx.table('t').put('other', 1);
        tx.table('t').put('k', 2, { ifVersion: version + 7 });
      }),
    );
    expect(code).toBe('CONFLICT');
    expect(db.table('t').has('other')).toBeFalse();
  });

  it('should write nothing when the function catches the error of one of its writes', async () => {
    await db.table('t').put('k', 1);
    const code = await rejectedCode(
      db.transaction((tx) => {
        tx.table('t').put('x', 1);
        try {
          tx.table('t').put('k', 2, { ifVersion: 999 });
        } catch {
          // carrying on does not make a transaction half a transaction
        }
        return 'ok';
      }),
    );
    expect(code).toBe('CONFLICT');
    expect(db.table('t').has('x')).toBeFalse();
  });

  it('should not disturb the writes batched with it when it fails', async () => {
    const t = db.table('t');
    const before = t.put('a', 1);
    const failing = db.transaction((tx) => {
      tx.table('t').put('b', 1);
      throw new Error('no');
    });
    const after = t.put('c', 1);
    await before;
    await expectAsync(failing).toBeRejected();
    await after;
    expect([...t.keys()]).toEqual(['a', 'c']);
  });

  it('should show every table of a transaction at its new state to subscribers of any of them', async () => {
    const a = db.table('a');
    const b = db.table('b');
    const seen: unknown[] = [];
    a.state$.subscribe(() => seen.push([b.get('k'), b.snapshot().get('k'), b.query().length]));
    await db.transaction((tx) => {
      tx.table('a').put('k', 1);
      tx.table('b').put('k', 2);
    });
    expect(seen.at(-1)).toEqual([2, 2, 1]);
  });

  it('should coalesce several writes of one record into one change', async () => {
    const changes: Change[] = [];
    db.changes().subscribe((change) => changes.push(change));
    await db.table('t').put('k', { n: 0 });
    changes.length = 0;
    await db.transaction((tx) => {
      const t = tx.table('t');
      t.merge('k', { n: 1 });
      t.merge('k', { n: 2, m: 1 });
      t.put('new', 1);
      t.delete('new');
    });
    expect(changes.length).toBe(1);
    expect(changes[0]).toEqual(jasmine.objectContaining({ key: 'k', previous: { n: 0 }, value: { n: 2, m: 1 } }));
  });

  it('should emit nothing when its writes cancel out', async () => {
    await db.table('t').put('k', { n: 0 });
    const seq = db.seq;
    await db.transaction((tx) => {
      tx.table('t').merge('k', { n: 1 });
      tx.table('t').merge('k', { n: 0 });
    });
    expect(db.seq).toBe(seq);
  });

  it('should refuse an async function and write nothing', async () => {
    const code = await rejectedCode(
      db.transaction(async (tx) => {
        tx.table('t').put('k', 1);
      }),
    );
    expect(code).toBe('INVALID_ARGUMENT');
    expect(db.table('t').has('k')).toBeFalse();
  });

  it('should refuse its handle once the function has returned', async () => {
    let leaked: { table(name: string): unknown } | undefined;
    await db.transaction((tx) => {
      leaked = tx;
    });
    expect(thrownCode(() => leaked!.table('t'))).toBe('INVALID_ARGUMENT');
  });

  it('should be all or nothing after reopening', async () => {
    await db.transaction((tx) => {
      for (let i = 0; i < 100; i++) tx.table(i % 2 ? 'odd' : 'even').put(`k${i}`, i);
    });
    await db.close();
    db = await open(dir);
    expect(db.table('odd').size).toBe(50);
    expect(db.table('even').size).toBe(50);
    expect(db.table('odd').get('k99')).toBe(99);
  });
});
