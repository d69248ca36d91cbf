import { from, lastValueFrom, toArray } from 'rxjs';
import { pathChanged } from 'rxkv/operators';
import { change } from './changes.js';

describe('pathChanged', () => {
  const base = { profile: { city: 'Oslo', age: 1 }, name: 'x' };

  async function keys(pointer: string) {
    const stream = from([
      change('city', base, { ...base, profile: { city: 'Rome', age: 1 } }),
      change('age', base, { ...base, profile: { city: 'Oslo', age: 2 } }),
      change('name', base, { ...base, name: 'y' }),
      change('profile', base, { ...base, profile: 'gone' }),
      change('new', undefined, base),
      change('deleted', base, undefined),
    ]);
    return (await lastValueFrom(stream.pipe(pathChanged(pointer), toArray()))).map((c) => c.key);
  }

  it('should keep changes touching the pointer, below it, or replacing an ancestor', async () => {
    expect(await keys('/profile/city')).toEqual(['city', 'profile', 'new', 'deleted']);
    expect(await keys('/profile')).toEqual(['city', 'age', 'profile', 'new', 'deleted']);
    expect(await keys('/name')).toEqual(['name', 'new', 'deleted']);
  });

  it('should not mistake a sibling that shares a prefix for a child', async () => {
    const stream = from([change('k', { ab: 1, a: 1 }, { ab: 2, a: 1 })]);
    expect((await lastValueFrom(stream.pipe(pathChanged('/a'), toArray()))).length).toBe(0);
  });

  it('should refuse something that is not a JSON Pointer', () => {
    expect(() => pathChanged('profile')).toThrow(jasmine.objectContaining({ name: 'RxkvError', code: 'INVALID_ARGUMENT' }));
  });
});
