import type { Polled } from './hooks.js';
import { ErrorNote } from './error-note.js';

export interface TableInfo {
  readonly name: string;
  readonly records: number;
}

/** Every table with its record count, as the server reports it (polled: live). */
export function TablesView({ tables, open }: { tables: Polled<TableInfo[]>; open: (view: 'records' | 'changes', table: string) => void }) {
  return (
    <section aria-labelledby="tables-title">
      <h2 id="tables-title">Tables</h2>
      <ErrorNote error={tables.error} />
      {tables.value === undefined ? (
        tables.error === undefined && <p class="muted">Loading…</p>
      ) : tables.value.length === 0 ? (
        <p class="muted">No tables yet: a table exists once a record is written to it.</p>
      ) : (
        <table class="grid" id="tables">
          <thead>
            <tr>
              <th scope="col">Table</th>
              <th scope="col" class="number">Records</th>
              <th scope="col">Open</th>
            </tr>
          </thead>
          <tbody>
            {tables.value.map((table) => (
              <tr key={table.name} data-table={table.name}>
                <th scope="row">{table.name}</th>
                <td class="number count">{table.records.toLocaleString('en')}</td>
                <td class="actions">
                  <button type="button" onClick={() => open('records', table.name)}>
                    Records
                  </button>
                  <button type="button" onClick={() => open('changes', table.name)}>
                    Changes
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
