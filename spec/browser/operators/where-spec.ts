import { from, lastValueFrom, toArray } from 'rxjs';
import { where } from 'rxkv/operators';
import { change } from './changes.js';

describe('where', () => {
  it('should keep changes whose record matches before or after, so leaving is seen too', async () => {
    const inOslo = (value: any) => value.city === 'Oslo';
    const stream = from([
      change('a', undefined, { city: 'Oslo' }), // enters
      change('b', undefined, { city: 'Rome' }), // never matches
      change('a', { city: 'Oslo' }, { city: 'Rome' }), // leaves
      change('b', { city: 'Rome' }, undefined), // never matched
      change('a', { city: 'Rome' }, undefined), // gone, did not match before
    ]);
    const kept = await lastValueFrom(stream.pipe(where(inOslo), toArray()));
    expect(kept.map((c) => [c.key, c.op])).toEqual([
      ['a', 'new'],
      ['a', 'merge'],
    ]);
  });

  it('should pass the key to the predicate', async () => {
    const stream = from([change('x1', undefined, 1), change('y1', undefined, 1)]);
    const kept = await lastValueFrom(stream.pipe(where((_value, key) => key.startsWith('x')), toArray()));
    expect(kept.map((c) => c.key)).toEqual(['x1']);
  });
});
