import { Subject } from 'rxjs';
import { toMap, type Change } from 'rxkv/operators';
import { change } from './changes.js';

describe('toMap', () => {
  it('should fold changes into a live map of records, emitted after each change', () => {
    const source = new Subject<Change>();
    const sizes: number[] = [];
    let latest: ReadonlyMap<string, unknown> | undefined;
    source.pipe(toMap()).subscribe((records) => {
      latest = records;
      sizes.push(records.size);
    });
    source.next(change('a', undefined, 1));
    source.next(change('b', undefined, 2));
    source.next(change('a', 1, 3));
    source.next(change('b', 2, undefined));
    expect(sizes).toEqual([1, 2, 2, 1]);
    expect([...latest!]).toEqual([['a', 3]]);
  });
});
