import { Subject } from 'rxjs';
import { squash, type Change } from 'rxkv/operators';
import jsonpatch from 'fast-json-patch';
import { change } from './changes.js';

describe('squash', () => {
  beforeEach(() => jasmine.clock().install());
  afterEach(() => jasmine.clock().uninstall());

  function run() {
    const source = new Subject<Change>();
    const out: Change[] = [];
    const subscription = source.pipe(squash(50)).subscribe((c) => out.push(c));
    return { source, out, subscription };
  }

  it('should coalesce the changes of one key within the window into one, from first previous to last value', () => {
    const { source, out } = run();
    source.next(change('a', { n: 0 }, { n: 1 }));
    source.next(change('a', { n: 1 }, { n: 2, m: 1 }));
    const last = change('a', { n: 2, m: 1 }, { n: 3, m: 1 });
    source.next(last);
    expect(out).toEqual([]);
    jasmine.clock().tick(50);
    expect(out.length).toBe(1);
    expect(out[0]).toEqual(jasmine.objectContaining({ key: 'a', op: 'merge', previous: { n: 0 }, value: { n: 3, m: 1 }, seq: last.seq }));
    const replayed = jsonpatch.applyPatch(jsonpatch.deepClone({ n: 0 }), out[0]!.patch as never, true, false).newDocument;
    expect(replayed).toEqual({ n: 3, m: 1 });
  });

  it('should keep different keys apart and open a new window after one closes', () => {
    const { source, out } = run();
    source.next(change('a', undefined, 1));
    source.next(change('b', undefined, 1));
    jasmine.clock().tick(50);
    source.next(change('a', 1, 2));
    jasmine.clock().tick(50);
    expect(out.map((c) => [c.key, c.op])).toEqual([
      ['a', 'new'],
      ['b', 'new'],
      ['a', 'merge'],
    ]);
  });

  it('should emit nothing when the changes cancel out', () => {
    const { source, out } = run();
    source.next(change('a', undefined, 1));
    source.next(change('a', 1, undefined));
    source.next(change('b', { x: 1 }, { x: 2 }));
    source.next(change('b', { x: 2 }, { x: 1 }));
    jasmine.clock().tick(50);
    expect(out).toEqual([]);
  });

  it('should report a record created and changed in the window as new', () => {
    const { source, out } = run();
    source.next(change('a', undefined, { x: 1 }));
    source.next(change('a', { x: 1 }, { x: 2 }));
    jasmine.clock().tick(50);
    expect(out[0]).toEqual(jasmine.objectContaining({ op: 'new', patch: [{ op: 'add', path: '', value: { x: 2 } }] }));
  });

  it('should flush open windows when the source completes', () => {
    const { source, out } = run();
    source.next(change('a', undefined, 1));
    source.complete();
    expect(out.length).toBe(1);
  });

  it('should clear its timers on unsubscribe', () => {
    const { source, out, subscription } = run();
    source.next(change('a', undefined, 1));
    subscription.unsubscribe();
    jasmine.clock().tick(100);
    expect(out).toEqual([]);
  });

  it('should refuse a window that is not a number of milliseconds with INVALID_ARGUMENT', () => {
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY, '50' as unknown as number]) {
      expect(() => squash(ms)).toThrow(jasmine.objectContaining({ name: 'RxkvError', code: 'INVALID_ARGUMENT' }));
    }
  });
});
