import type { RemoteDatabase } from '../client/browser.js';
import { usePoll } from './hooks.js';
import { ErrorNote } from './error-note.js';

/** How the server is doing: its figures, asked every second. */
export function ServerView({ remote }: { remote: RemoteDatabase }) {
  const stats = usePoll(() => remote.serverStats(), 1000, [remote]);
  const figures = stats.value;
  return (
    <section aria-labelledby="server-title">
      <h2 id="server-title">Server</h2>
      <ErrorNote error={stats.error} />
      {figures !== undefined && (
        <>
          <dl class="figures" id="server">
            <Figure name="connections" label="Connections" value={figures.connections} />
            <Figure name="seq" label="Last seq" value={figures.seq} />
            <Figure name="commits" label="Commits per second" value={figures.commitsPerSecond} />
            <Figure name="buffered" label="Bytes queued to clients" value={figures.bufferedBytes} />
            <Figure name="slow" label="Slow clients" value={figures.slowClients} />
            <div>
              <dt>History</dt>
              <dd data-figure="history">
                <code>{figures.history}</code>
              </dd>
            </div>
          </dl>
          <h3>Subscriptions by table</h3>
          {Object.keys(figures.subscriptions).length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <table class="grid" id="subscriptions">
              <thead>
                <tr>
                  <th scope="col">Table</th>
                  <th scope="col" class="number">Subscriptions</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(figures.subscriptions).map(([table, count]) => (
                  <tr key={table} data-table={table}>
                    <th scope="row">{table === '*' ? 'every table (change streams)' : table}</th>
                    <td class="number">{count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

function Figure({ name, label, value }: { name: string; label: string; value: number }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-figure={name}>{value.toLocaleString('en')}</dd>
    </div>
  );
}
