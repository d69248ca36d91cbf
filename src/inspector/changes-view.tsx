import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ChangeOp, RemoteDatabase } from '../client/browser.js';
import { ChangeFeed, HELD, KEPT, PAGE } from './change-feed.js';
import { ErrorNote, time } from './error-note.js';
import { useDebounced, useThrottledRender } from './hooks.js';
import { PatchView } from './patch-view.js';
import type { TableInfo } from './tables-view.js';

const OPS: readonly ChangeOp[] = ['new', 'merge', 'delete'];

/**
 * The live change stream of the database or of one table, filtered by key prefix and op: each
 * change with its seq, time, op, key and patch. Paused, changes are held (up to `HELD`) and shown
 * on resume; the newest `KEPT` can be paged through. Rendered a page at a time, at most four times
 * a second, however fast changes come.
 */
export function ChangesView({ remote, tables, table, setTable }: { remote: RemoteDatabase; tables: readonly TableInfo[]; table: string; setTable: (table: string) => void }) {
  const [prefix, setPrefix] = useState('');
  const [ops, setOps] = useState<ReadonlySet<ChangeOp>>(new Set(OPS));
  const [error, setError] = useState<unknown>(undefined);
  const feed = useMemo(() => new ChangeFeed(), []);
  const [page, setPage] = useState(0);
  const render = useThrottledRender(250);
  const settledPrefix = useDebounced(prefix, 250);
  const opList = OPS.filter((op) => ops.has(op));

  useEffect(() => {
    feed.clear();
    setPage(0);
    setError(undefined);
    render();
    const filter = { ...(table === '' ? {} : { table }), ...(settledPrefix === '' ? {} : { prefix: settledPrefix }), ops: opList };
    const subscription = remote.changes(filter).subscribe({
      next: (change) => {
        feed.push(change);
        render();
      },
      error: setError,
    });
    return () => subscription.unsubscribe();
  }, [remote, table, settledPrefix, opList.join()]);

  // The rate goes down to 0 when changes stop: render once a second anyway.
  useEffect(() => {
    const timer = setInterval(render, 1000);
    return () => clearInterval(timer);
  }, []);

  const toggle = (): void => {
    if (feed.paused) feed.resume();
    else feed.pause();
    render();
  };
  const shown = feed.shown(page);
  const pages = Math.max(1, Math.ceil(feed.size / PAGE));
  return (
    <section aria-labelledby="changes-title">
      <h2 id="changes-title">Changes</h2>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Table
          <select value={table} onChange={(event) => setTable(event.currentTarget.value)} name="table">
            <option value="">every table</option>
            {tables.map((one) => (
              <option key={one.name} value={one.name}>
                {one.name}
              </option>
            ))}
            {table !== '' && !tables.some((one) => one.name === table) && <option value={table}>{table}</option>}
          </select>
        </label>
        <label>
          Key prefix
          <input name="prefix" value={prefix} onInput={(event) => setPrefix(event.currentTarget.value)} placeholder="any key" spellcheck={false} />
        </label>
        <fieldset>
          <legend>Ops</legend>
          {OPS.map((op) => (
            <label key={op} class="check">
              <input
                type="checkbox"
                name={`op-${op}`}
                checked={ops.has(op)}
                onChange={() => setOps((current) => {
                  const next = new Set(current);
                  if (!next.delete(op)) next.add(op);
                  return next;
                })}
              />
              {op}
            </label>
          ))}
        </fieldset>
        <button type="button" id="pause" aria-pressed={feed.paused} onClick={toggle}>
          {feed.paused ? 'Resume' : 'Pause'}
        </button>
      </form>
      <p class="feed-status" aria-live="polite">
        <span id="rate">{feed.perSecond()}</span> changes/s
        {feed.paused && (
          <>
            {' · paused: '}
            <span id="held">{feed.heldCount}</span> held (at most {HELD.toLocaleString('en')})
          </>
        )}
        {feed.dropped > 0 && (
          <>
            {' · '}
            <span id="dropped">{feed.dropped}</span> dropped while paused
          </>
        )}
        {' · '}the newest {KEPT.toLocaleString('en')} are kept
      </p>
      <nav class="pager" aria-label="pages of changes">
        <button type="button" id="newer" disabled={page === 0} onClick={() => setPage(page - 1)}>
          ← Newer
        </button>
        <span id="changes-page">
          page {Math.min(page, pages - 1) + 1} of {pages}
        </span>
        <button type="button" id="older" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
          Older →
        </button>
      </nav>
      <ErrorNote error={error} />
      {shown.length === 0 ? (
        <p class="muted">Waiting for changes…</p>
      ) : (
        <ol class="changes" id="changes">
          {shown.map((change) => (
            <li key={`${change.seq}/${change.table}/${change.key}`} class={`change op-${change.op}`} data-seq={change.seq} data-table={change.table} data-key={change.key} data-op={change.op}>
              <div class="change-head">
                <span class="seq">#{change.seq}</span>
                <time dateTime={new Date(change.ts).toISOString()}>{time(change.ts)}</time>
                <span class={`badge op-${change.op}`}>{change.op}</span>
                <span class="where">
                  <span class="table-name">{change.table}</span>/<span class="key">{change.key}</span>
                </span>
              </div>
              <PatchView patch={change.patch} />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
