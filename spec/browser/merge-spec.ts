import { mergePatch, type Json } from 'rxkv/json';

describe('mergePatch (RFC 7396)', () => {
  // RFC 7396, Appendix A: every example, to the letter.
  const examples: [Json, Json, Json][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];

  examples.forEach(([original, patch, result], index) => {
    it(`should give the RFC's result for Appendix A example ${index + 1}`, () => {
      expect(mergePatch(original, patch)).toEqual(result);
    });
  });

  it('should start from {} when an object patch meets a scalar or nothing', () => {
    expect(mergePatch('text', { a: 1 })).toEqual({ a: 1 });
    expect(mergePatch(undefined, { a: { b: null, c: 2 } })).toEqual({ a: { c: 2 } });
  });

  it('should return the target itself when nothing changes', () => {
    const target = Object.freeze({ a: 1, b: Object.freeze({ c: [1, 2] }) }) as Json;
    expect(mergePatch(target, { a: 1 })).toBe(target);
    expect(mergePatch(target, { b: { c: [1, 2] } })).toBe(target);
    expect(mergePatch(target, { missing: null })).toBe(target);
  });

  it('should share every unchanged subtree with the target', () => {
    const target = { left: { deep: { x: 1 } }, right: { y: 2 } };
    const result = mergePatch(target, { right: { y: 3 } }) as typeof target;
    expect(result.left).toBe(target.left);
    expect(result.right).not.toBe(target.right);
    expect(target.right.y).toBe(2);
  });

  it('should freeze the objects it creates', () => {
    const result = mergePatch({ a: { b: 1 } }, { a: { c: [1] } }) as { a: { c: number[] } };
    expect(Object.isFrozen(result)).toBeTrue();
    expect(Object.isFrozen(result.a)).toBeTrue();
    expect(Object.isFrozen(result.a.c)).toBeTrue();
  });

  it('should keep __proto__, constructor and prototype as plain data members', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"x": 1}, "prototype": 2}');
    const result = mergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.keys(result).sort()).toEqual(['__proto__', 'constructor', 'prototype']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((result as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(result)).toBe('{"__proto__":{"polluted":true},"constructor":{"x":1},"prototype":2}');
  });

  it('should remove a __proto__ member with null like any other member', () => {
    const target = JSON.parse('{"__proto__": 1, "a": 2}');
    expect(JSON.stringify(mergePatch(target, JSON.parse('{"__proto__": null}')))).toBe('{"a":2}');
  });

  it('should refuse a patch that is not JSON', () => {
    expect(() => mergePatch({}, { when: new Date() } as unknown as Json)).toThrowMatching(
      (error) => error.code === 'INVALID_VALUE',
    );
  });
});
