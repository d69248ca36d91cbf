import { initialChange, type Change } from '../model/change.js';
import { selectedKeys, type ChangeFilter } from '../model/filter.js';
import type { TableState } from './table-state.js';

/**
 * The committed records that a filter selects, as `'new'` changes (what `{ initial: true }`
 * emits first), with the record's version as `seq` and its update time as `ts`. Key, keys and
 * prefix narrow the walk; the other conditions are the subscriber's to check.
 */
export function* initialChanges(states: Iterable<TableState>, filter: ChangeFilter): Generator<Change> {
  for (const state of states) {
    const snapshot = state.head;
    for (const key of selectedKeys(filter, snapshot)) {
      if (filter.prefix !== undefined && !key.startsWith(filter.prefix)) continue;
      const entry = snapshot.entry(key);
      if (entry !== undefined) yield initialChange(state.name, key, entry.value, entry.version, entry.updated);
    }
  }
}
