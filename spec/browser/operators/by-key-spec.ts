import { from, lastValueFrom, toArray } from 'rxjs';
import { byKey, byPrefix, ofOp } from 'rxkv/operators';
import { change } from './changes.js';

describe('byKey', () => {
  it('should keep only the changes of one record', async () => {
    const stream = from([change('a', undefined, 1), change('b', undefined, 1), change('a', 1, 2)]);
    expect((await lastValueFrom(stream.pipe(byKey('a'), toArray()))).map((c) => c.value)).toEqual([1, 2]);
  });
});

describe('byPrefix', () => {
  it('should keep only the changes of keys with the prefix', async () => {
    const stream = from([change('eu/1', undefined, 1), change('us/1', undefined, 1), change('eu/2', undefined, 2)]);
    expect((await lastValueFrom(stream.pipe(byPrefix('eu/'), toArray()))).map((c) => c.key)).toEqual(['eu/1', 'eu/2']);
  });
});

describe('ofOp', () => {
  it('should keep only the changes of the given kinds', async () => {
    const stream = from([change('a', undefined, 1), change('a', 1, 2), change('a', 2, undefined)]);
    expect((await lastValueFrom(stream.pipe(ofOp('new', 'delete'), toArray()))).map((c) => c.op)).toEqual(['new', 'delete']);
  });
});
