import { MAX_DEPTH, RxkvError, toFrozenJson } from 'rxkv/json';

function codeOf(thunk: () => unknown): string | undefined {
  try {
    thunk();
  } catch (error) {
    expect(error).toBeInstanceOf(RxkvError);
    return (error as RxkvError).code;
  }
  return undefined;
}

describe('toFrozenJson', () => {
  class Point {
    constructor(readonly x = 1) {}
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = { back: cyclic };
  let deep: unknown = 1;
  for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];

  const invalid: [string, unknown][] = [
    ['a function', { f: () => 1 }],
    ['a symbol', { s: Symbol('s') }],
    ['a BigInt', { n: 10n }],
    ['NaN', { n: NaN }],
    ['Infinity', [Infinity]],
    ['-Infinity', -Infinity],
    ['an undefined member', { u: undefined }],
    ['undefined itself', undefined],
    ['a Date', { when: new Date(0) }],
    ['a Map', new Map()],
    ['a Set', { s: new Set([1]) }],
    ['a class instance', { p: new Point() }],
    ['a typed array', new Uint8Array(2)],
    ['a sparse array', [1, , 3]],
    ['a cycle', cyclic],
    ['nesting deeper than MAX_DEPTH', deep],
  ];

  invalid.forEach(([name, value]) => {
    it(`should refuse ${name} with INVALID_VALUE`, () => {
      expect(codeOf(() => toFrozenJson(value, 1 << 20))).toBe('INVALID_VALUE');
    });
  });

  it('should name the path of the offending member', () => {
    expect(() => toFrozenJson({ a: [0, { when: new Date() }] }, 1 << 20)).toThrowError(/\/a\/1\/when/);
  });

  it('should tell a cycle apart from deep nesting', () => {
    expect(() => toFrozenJson(cyclic, 1 << 20)).toThrowError(/cycle/);
    expect(() => toFrozenJson(deep, 1 << 20)).toThrowError(/deeper/);
  });

  it('should refuse with VALUE_TOO_LARGE past the byte limit', () => {
    expect(codeOf(() => toFrozenJson({ text: 'x'.repeat(200) }, 100))).toBe('VALUE_TOO_LARGE');
    expect(codeOf(() => toFrozenJson({ text: 'x'.repeat(50) }, 100))).toBeUndefined();
  });

  it('should return a frozen deep copy that later changes to the input do not reach', () => {
    const input = { a: { b: [1, 2] }, c: 'x' };
    const copy = toFrozenJson(input, 1 << 20) as typeof input;
    input.a.b.push(3);
    input.c = 'y';
    expect(copy).toEqual({ a: { b: [1, 2] }, c: 'x' });
    expect(Object.isFrozen(copy) && Object.isFrozen(copy.a) && Object.isFrozen(copy.a.b)).toBeTrue();
  });

  it('should accept objects without a prototype and copy them as plain objects', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(toFrozenJson(bare, 1 << 20)).toEqual({ a: 1 });
  });

  it('should keep a __proto__ member as data and never touch a prototype', () => {
    const copy = toFrozenJson(JSON.parse('{"__proto__": {"isAdmin": true}}'), 1 << 20) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__']);
    expect((copy as { isAdmin?: boolean }).isAdmin).toBeUndefined();
    expect(({} as { isAdmin?: boolean }).isAdmin).toBeUndefined();
  });
});
