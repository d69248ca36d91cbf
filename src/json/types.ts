/** A JSON value: what a record holds. */
export type Json = null | boolean | number | string | JsonArray | JsonObject;
export interface JsonArray extends Array<Json> {}
export interface JsonObject {
  [member: string]: Json;
}

/** An RFC 7396 merge patch for a value of type `T`: members optional, `null` removes one. */
export type MergePatch<T> = Json extends T
  ? Json
  : T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: MergePatch<T[K]> | null }
    : T;

/** One RFC 6902 JSON Patch operation, as rxkv emits them (paths relative to the record). */
export type Operation =
  | { op: 'add'; path: string; value: Json }
  | { op: 'replace'; path: string; value: Json }
  | { op: 'remove'; path: string };
