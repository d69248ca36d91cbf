/** RFC 6901 JSON Pointer escaping of one reference token. */
export function escapePointerToken(token: string): string {
  if (token.indexOf('~') === -1 && token.indexOf('/') === -1) return token;
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The JSON Pointer of a path of members (`[]` is the root, `''`). */
export function toPointer(path: readonly (string | number)[]): string {
  let pointer = '';
  for (const token of path) pointer += '/' + escapePointerToken(String(token));
  return pointer;
}
