import type { Change } from './change.js';
import type { ChangeFilter } from './dispatch.js';
import type { TableState } from './table-state.js';

/**
 * The committed records that a filter selects, as `'new'` changes (what `{ initial: true }`
 * emits first): one root `add` each, with the record's version as `seq` and its update time as
 * `ts`. Key, keys and prefix narrow the walk; the other conditions are the listener's to check.
 */
export function* initialChanges(states: Iterable<TableState>, filter: ChangeFilter): Generator<Change> {
  for (const state of states) {
    const snapshot = state.head;
    const keys =
      filter.key !== undefined
        ? [filter.key]
        : filter.keys !== undefined
          ? [...new Set(filter.keys)].sort()
          : filter.prefix !== undefined
            ? keysOf(snapshot.range({ prefix: filter.prefix }))
            : snapshot.keys();
    for (const key of keys) {
      if (filter.prefix !== undefined && !key.startsWith(filter.prefix)) continue;
      const entry = snapshot.entry(key);
      if (entry === undefined) continue;
      yield {
        table: state.name,
        key,
        op: 'new',
        value: entry.value,
        previous: undefined,
        patch: [{ op: 'add', path: '', value: entry.value }],
        seq: entry.version,
        ts: entry.updated,
      };
    }
  }
}

function* keysOf(pairs: Iterable<[string, unknown]>): Generator<string> {
  for (const [key] of pairs) yield key;
}
