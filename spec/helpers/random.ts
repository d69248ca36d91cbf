import type { Json } from 'rxkv/json';

/** A small seeded generator (mulberry32), so that random specs replay exactly. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * Random JSON, with member names chosen to exercise pointer escaping (and `constructor`, `''`,
 * numeric names). fast-json-patch refuses every path through `__proto__` (a guard of its own), so
 * that member is left to specs of its own.
 */
export function randomJson(random: Random, depth: number): Json {
  const kind = depth <= 0 ? random.int(4) : random.int(6);
  switch (kind) {
    case 0:
      return random.int(1000) - 500;
    case 1:
      return random.pick(['', 'a', 'x/y', 'é', '~0']);
    case 2:
      return random.chance(0.5);
    case 3:
      return null;
    case 4: {
      const length = random.int(4);
      return Array.from({ length }, () => randomJson(random, depth - 1));
    }
    default: {
      const object: Record<string, Json> = {};
      const count = random.int(4);
      for (let i = 0; i < count; i++) {
        const name = random.pick(['a', 'b', 'c', 'a/b', 'm~n', '', 'constructor', '0']);
        Object.defineProperty(object, name, { value: randomJson(random, depth - 1), enumerable: true, writable: true, configurable: true });
      }
      return object;
    }
  }
}
