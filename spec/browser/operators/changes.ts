import { diff, type Json } from 'rxkv/json';
import type { Change } from 'rxkv/operators';

let seq = 0;

/** A change as rxkv emits it, from `previous` to `value`. */
export function change(key: string, previous: Json | undefined, value: Json | undefined, table = 't'): Change {
  seq += 1;
  return {
    table,
    key,
    op: previous === undefined ? 'new' : value === undefined ? 'delete' : 'merge',
    value,
    previous,
    patch: diff(previous, value),
    seq,
    ts: 1000 + seq,
  };
}
