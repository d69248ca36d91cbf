/** Small helpers for plain JSON objects that never touch a prototype. */

const hasOwnProperty = Object.prototype.hasOwnProperty;

export function hasOwn(object: object, member: string): boolean {
  return hasOwnProperty.call(object, member);
}

/** A JSON object: neither null nor an array. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Sets a member as own data. Plain assignment of `__proto__` would call the
 * `Object.prototype` setter and replace the object's prototype instead.
 */
export function setMember(object: Record<string, unknown>, member: string, value: unknown): void {
  if (member === '__proto__') {
    Object.defineProperty(object, member, { value, writable: true, enumerable: true, configurable: true });
  } else {
    object[member] = value;
  }
}
