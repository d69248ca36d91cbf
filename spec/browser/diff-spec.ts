import jsonpatch from 'fast-json-patch';
import { diff, mergePatch, type Json } from 'rxkv/json';
import { Random, randomJson } from '../helpers/random.js';

function replay(previous: Json | undefined, value: Json | undefined): Json | undefined {
  const document = { root: previous === undefined ? undefined : jsonpatch.deepClone(previous) };
  const ops = diff(previous, value).map((op) => ({ ...op, path: '/root' + op.path }));
  if (previous === undefined) delete document.root;
  return jsonpatch.applyPatch(document, ops as never, true, true).newDocument.root as Json | undefined;
}

describe('diff (RFC 6902)', () => {
  it('should be empty for identical values', () => {
    const value = { a: [1, { b: 2 }] };
    expect(diff(value, value)).toEqual([]);
    expect(diff(value, JSON.parse(JSON.stringify(value)))).toEqual([]);
  });

  it('should create with one root add and delete with one root remove', () => {
    expect(diff(undefined, { a: 1 })).toEqual([{ op: 'add', path: '', value: { a: 1 } }]);
    expect(diff({ a: 1 }, undefined)).toEqual([{ op: 'remove', path: '' }]);
  });

  it('should escape ~ and / in member names', () => {
    expect(diff({ 'a/b': 1, 'm~n': 1 }, { 'a/b': 2, 'm~n': 2 })).toEqual([
      { op: 'replace', path: '/a~1b', value: 2 },
      { op: 'replace', path: '/m~0n', value: 2 },
    ]);
  });

  it('should address __proto__ members as plain data', () => {
    const before = JSON.parse('{"__proto__": {"x": 1}}');
    const after = JSON.parse('{"__proto__": {"x": 2, "y": 3}}');
    expect(diff(before, after)).toEqual([
      { op: 'replace', path: '/__proto__/x', value: 2 },
      { op: 'add', path: '/__proto__/y', value: 3 },
    ]);
  });

  it('should remove array elements from the end so that every index stays valid', () => {
    expect(diff([1, 2, 3, 4], [1])).toEqual([
      { op: 'remove', path: '/3' },
      { op: 'remove', path: '/2' },
      { op: 'remove', path: '/1' },
    ]);
  });

  it('should replay with fast-json-patch to the new value over a seeded random sequence of merges', () => {
    const random = new Random(7396);
    let value: Json | undefined;
    for (let i = 0; i < 3000; i++) {
      const patch = randomJson(random, 3);
      const next = mergePatch(value, patch);
      expect(replay(value, next)).withContext(`step ${i}`).toEqual(next);
      value = random.chance(0.05) ? undefined : next;
    }
  });

  it('should replay between unrelated random values', () => {
    const random = new Random(6902);
    for (let i = 0; i < 1000; i++) {
      const a = randomJson(random, 4);
      const b = randomJson(random, 4);
      expect(replay(a, b)).withContext(`pair ${i}`).toEqual(b);
    }
  });
});
