/**
 * Freezes a JSON value and everything in it, in place. A frozen subtree is taken as frozen all
 * the way down (rxkv only ever freezes whole subtrees), so values that share parts with an older,
 * frozen version are walked only where they are new.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
    } else {
      for (const member of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[member]);
    }
    Object.freeze(value);
  }
  return value;
}
