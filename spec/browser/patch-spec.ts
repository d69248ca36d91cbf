import jsonpatch from 'fast-json-patch';
import { applyPatch, diff, ErrorCode, RxkvError, type Json, type Operation } from 'rxkv/json';
import { Random, randomJson } from '../helpers/random.js';

/** Every container of a value, frozen or not. */
function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

/** A copy of `value` with a few random edits deep inside: what diffs to patches of several operations on deep paths. */
function mutated(random: Random, value: Json, depth: number): Json {
  if (typeof value !== 'object' || value === null || depth > 4 || random.chance(0.15)) return random.chance(0.5) ? randomJson(random, 2) : value;
  if (Array.isArray(value)) {
    const copy = value.map((item) => (random.chance(0.5) ? mutated(random, item, depth + 1) : item));
    if (random.chance(0.3)) copy.splice(random.int(copy.length + 1), 0, randomJson(random, 1));
    if (copy.length > 0 && random.chance(0.3)) copy.splice(random.int(copy.length), 1);
    return copy;
  }
  const copy: Record<string, Json> = {};
  for (const [member, item] of Object.entries(value)) if (!random.chance(0.2)) copy[member] = random.chance(0.6) ? mutated(random, item, depth + 1) : item;
  if (random.chance(0.4)) copy[random.pick(['n', 'x/y', '~z', '1'])] = randomJson(random, 2);
  return copy;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return error instanceof RxkvError ? error.code : `not an RxkvError: ${String(error)}`;
  }
  return undefined;
};

describe('applyPatch (RFC 6902, structurally shared)', () => {
  it('should give what fast-json-patch gives, leave the old value untouched and freeze the new one, over seeded random pairs', () => {
    const random = new Random(6902);
    let deep = 0;
    for (let i = 0; i < 2000; i++) {
      // Mostly records (objects of containers), sometimes anything.
      const before = deepFreeze(random.chance(0.2) ? randomJson(random, 4) : { a: randomJson(random, 4), b: [randomJson(random, 3), randomJson(random, 3)], c: { d: randomJson(random, 3) } });
      const after = random.chance(0.2) ? randomJson(random, 4) : mutated(random, before, 0);
      const copy = JSON.parse(JSON.stringify(before)) as Json;
      const patch = JSON.parse(JSON.stringify(diff(before, after))) as Operation[];
      const expected = jsonpatch.applyPatch(jsonpatch.deepClone(before), JSON.parse(JSON.stringify(patch)), true, false).newDocument;
      const applied = applyPatch(before, patch);
      expect(applied).withContext(JSON.stringify({ before, patch })).toEqual(expected as Json);
      expect(applied).toEqual(after);
      expect(before).toEqual(copy);
      expect(isDeepFrozen(applied)).toBeTrue();
      if (patch.length > 1 && patch.some((operation) => operation.path.split('/').length > 2)) deep++;
    }
    expect(deep).withContext('patches of several operations on deep paths').toBeGreaterThan(500);
  });

  it('should change in place what an earlier operation of the same patch added, never the value it was given', () => {
    const added = { k: {} };
    const applied = applyPatch({ a: 1 }, [
      { op: 'add', path: '/b', value: added },
      { op: 'add', path: '/b/k/z', value: 1 },
    ]);
    expect(applied).toEqual({ a: 1, b: { k: { z: 1 } } });
    expect(added).toEqual({ k: {} });
    expect(Object.isFrozen(added)).toBeFalse();
    expect(isDeepFrozen(applied)).toBeTrue();
  });

  it('should leave an unfrozen previous value as it was', () => {
    const before = { a: { b: [1, 2] }, c: 1 };
    applyPatch(before, [
      { op: 'remove', path: '/a/b/0' },
      { op: 'replace', path: '/c', value: 2 },
    ]);
    expect(before).toEqual({ a: { b: [1, 2] }, c: 1 });
    expect(Object.isFrozen(before.a)).toBeFalse();
  });

  it('should refuse what is not JSON or not a patch of add, remove and replace with a typed error', () => {
    expect(code(() => applyPatch({ a: 1 }, null as never))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => applyPatch({ a: 1 }, [{ op: 'add', path: '/b' } as never]))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => applyPatch({ a: 1 }, [{ op: 'add', path: '/b', value: new Date() as never }]))).toBe(ErrorCode.INVALID_VALUE);
    expect(code(() => applyPatch(new Map() as never, [{ op: 'remove', path: '' }]))).toBe(ErrorCode.INVALID_VALUE);
    expect(code(() => applyPatch(undefined, [{ op: 'replace', path: '', value: 1 }]))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => applyPatch(undefined, [{ op: 'remove', path: '' }]))).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('should share every subtree the patch does not touch', () => {
    const before = deepFreeze({ a: { deep: [1, 2] }, b: { c: 1, d: { e: 2 } }, list: [{ x: 1 }, { y: 2 }] as Json[] });
    const after = applyPatch(before, [
      { op: 'replace', path: '/b/c', value: 2 },
      { op: 'add', path: '/list/1', value: { z: 3 } },
    ]) as typeof before & { list: unknown[] };
    expect(after).toEqual({ a: { deep: [1, 2] }, b: { c: 2, d: { e: 2 } }, list: [{ x: 1 }, { z: 3 }, { y: 2 }] } as never);
    expect(after.a).toBe(before.a);
    expect(after.b.d).toBe(before.b.d);
    expect(after.list[0]).toBe(before.list[0]);
    expect(after.list[2]).toBe(before.list[1]);
    expect(after.b).not.toBe(before.b);
  });

  it('should create, replace and delete at the root', () => {
    expect(applyPatch(undefined, [{ op: 'add', path: '', value: { a: 1 } }])).toEqual({ a: 1 });
    expect(applyPatch({ a: 1 }, [{ op: 'replace', path: '', value: [1] }])).toEqual([1]);
    expect(applyPatch({ a: 1 }, [{ op: 'remove', path: '' }])).toBeUndefined();
  });

  it('should append with "-" and set __proto__ members as plain data', () => {
    expect(applyPatch([1], [{ op: 'add', path: '/-', value: 2 }])).toEqual([1, 2]);
    const applied = applyPatch(JSON.parse('{"__proto__": {"x": 1}}'), [{ op: 'replace', path: '/__proto__/x', value: 2 }]) as Record<string, unknown>;
    expect(Object.getPrototypeOf(applied)).toBe(Object.prototype);
    expect(Object.hasOwn(applied, '__proto__')).toBeTrue();
    expect(JSON.stringify(applied)).toBe('{"__proto__":{"x":2}}');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it('should refuse what does not apply with INVALID_ARGUMENT and leave the value as it was', () => {
    const before = deepFreeze({ a: { b: 1 }, list: [1, 2] });
    const refused: Operation[][] = [
      [{ op: 'remove', path: '/missing' }],
      [{ op: 'replace', path: '/a/c', value: 1 }],
      [{ op: 'add', path: '/a/b/c', value: 1 }],
      [{ op: 'add', path: '/list/3', value: 1 }],
      [{ op: 'replace', path: '/list/2', value: 1 }],
      [{ op: 'remove', path: '/list/01' }],
      [{ op: 'add', path: 'a', value: 1 }],
      [{ op: 'move', path: '/b', from: '/a' } as unknown as Operation],
      [
        { op: 'replace', path: '/a/b', value: 2 },
        { op: 'remove', path: '/nope' },
      ],
    ];
    for (const patch of refused) expect(code(() => applyPatch(before, patch))).withContext(JSON.stringify(patch)).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(code(() => applyPatch(undefined, [{ op: 'add', path: '/a', value: 1 }]))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(before).toEqual({ a: { b: 1 }, list: [1, 2] });
  });
});
