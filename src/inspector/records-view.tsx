import { useEffect, useState } from 'preact/hooks';
import type { Json, RecordMeta, RemoteDatabase } from '../client/browser.js';
import { ErrorNote, time } from './error-note.js';
import { useDebounced } from './hooks.js';
import { JsonView } from './json-view.js';
import type { TableInfo } from './tables-view.js';

/** Records per page: the view holds one page, so a table of any size costs the page the same. */
export const PAGE_SIZE = 100;
/** How soon after a change of the table the page is read again. */
const REFRESH_MS = 250;

type Row = [key: string, value: Json, meta: RecordMeta];

interface Bounds {
  readonly prefix: string;
  readonly from: string;
  readonly to: string;
}

/**
 * A table's records in key order, a page at a time (read on the server: `RemoteTable.page`),
 * filtered by key prefix or range, read again when the table changes. A record opens to its JSON,
 * its metadata and an editor (merge patch, put, delete).
 */
export function RecordsView({ remote, tables, table, setTable }: { remote: RemoteDatabase; tables: readonly TableInfo[]; table: string; setTable: (table: string) => void }) {
  const [typed, setTyped] = useState<Bounds>({ prefix: '', from: '', to: '' });
  const bounds = useDebounced(typed, 250);
  /** The last key of each page before the current one: where the next pages start. */
  const [starts, setStarts] = useState<string[]>([]);
  const [page, setPage] = useState<{ rows: Row[]; more: boolean } | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [version, setVersion] = useState(0);
  const after = starts[starts.length - 1];

  useEffect(() => setStarts([]), [table, bounds]);

  useEffect(() => {
    if (table === '') return;
    let current = true;
    const range = {
      ...(bounds.prefix === '' ? {} : { prefix: bounds.prefix }),
      ...(after !== undefined ? { gt: after } : bounds.from === '' ? {} : { gte: bounds.from }),
      ...(bounds.to === '' ? {} : { lt: bounds.to }),
      limit: PAGE_SIZE,
    };
    remote
      .table(table)
      .page(range)
      .then(
        ({ records, more }) => {
          if (!current) return;
          setPage({ rows: records, more });
          setError(undefined);
        },
        (failure: unknown) => current && setError(failure),
      );
    return () => {
      current = false;
    };
  }, [remote, table, bounds, after, version]);

  // Live: the page is read again shortly after any change of the table.
  useEffect(() => {
    if (table === '') return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const subscription = remote.changes({ table }).subscribe({
      next: () => {
        timer ??= setTimeout(() => {
          timer = undefined;
          setVersion((n) => n + 1);
        }, REFRESH_MS);
      },
      error: () => undefined, // not allowed to read it: the page's own read says why
    });
    return () => {
      subscription.unsubscribe();
      clearTimeout(timer);
    };
  }, [remote, table]);

  const refresh = (): void => setVersion((n) => n + 1);
  const set = (field: keyof Bounds) => (event: Event) => setTyped({ ...typed, [field]: (event.currentTarget as HTMLInputElement).value });
  return (
    <section aria-labelledby="records-title">
      <h2 id="records-title">Records</h2>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Table
          <input name="table" list="table-names" value={table} onChange={(event) => setTable(event.currentTarget.value)} placeholder="a table" spellcheck={false} />
          <datalist id="table-names">
            {tables.map((one) => (
              <option key={one.name} value={one.name} />
            ))}
          </datalist>
        </label>
        <label>
          Key prefix
          <input name="prefix" value={typed.prefix} onInput={set('prefix')} placeholder="any" spellcheck={false} />
        </label>
        <label>
          From (≥)
          <input name="from" value={typed.from} onInput={set('from')} placeholder="first key" spellcheck={false} />
        </label>
        <label>
          To (&lt;)
          <input name="to" value={typed.to} onInput={set('to')} placeholder="past the last" spellcheck={false} />
        </label>
      </form>
      {table === '' ? (
        <p class="muted">Pick a table.</p>
      ) : (
        <>
          <NewRecord remote={remote} table={table} done={refresh} />
          <ErrorNote error={error} />
          {page !== undefined && (
            <>
              <nav class="pager" aria-label="pages">
                <button type="button" id="previous" disabled={starts.length === 0} onClick={() => setStarts(starts.slice(0, -1))}>
                  ← Previous
                </button>
                <span id="page-number">page {starts.length + 1}</span>
                <button type="button" id="next" disabled={!page.more} onClick={() => setStarts([...starts, page.rows[page.rows.length - 1]![0]])}>
                  Next →
                </button>
              </nav>
              {page.rows.length === 0 ? (
                <p class="muted">No records here.</p>
              ) : (
                <ul class="records" id="records">
                  {page.rows.map(([key, value, meta]) => (
                    <li key={key} data-key={key} data-version={meta.version}>
                      <button type="button" class="record-head" aria-expanded={open === key} onClick={() => setOpen(open === key ? undefined : key)}>
                        <span class="key">{key}</span>
                        <span class="meta">
                          v{meta.version} · updated {time(meta.updated)}
                        </span>
                      </button>
                      {open === key && <RecordDetail remote={remote} table={table} recordKey={key} value={value} meta={meta} done={refresh} />}
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

/** A record's JSON, its metadata and its editor. */
function RecordDetail({ remote, table, recordKey, value, meta, done }: { remote: RemoteDatabase; table: string; recordKey: string; value: Json; meta: RecordMeta; done: () => void }) {
  const [mode, setMode] = useState<'merge' | 'put'>('merge');
  const [text, setText] = useState('{}');
  const [outcome, setOutcome] = useState<{ error?: unknown; seq?: number } | undefined>(undefined);
  const choose = (next: 'merge' | 'put'): void => {
    setMode(next);
    setText(next === 'put' ? JSON.stringify(value, null, 2) : '{}');
  };
  const run = async (write: () => Promise<number>): Promise<void> => {
    try {
      setOutcome({ seq: await write() });
      done();
    } catch (error) {
      setOutcome({ error });
    }
  };
  const apply = (): Promise<void> =>
    run(() => {
      const parsed = parse(text);
      return mode === 'merge' ? remote.table(table).merge(recordKey, parsed as never) : remote.table(table).put(recordKey, parsed);
    });
  return (
    <div class="record-detail">
      <dl class="meta-list">
        <div>
          <dt>version</dt>
          <dd>{meta.version}</dd>
        </div>
        <div>
          <dt>created</dt>
          <dd>{new Date(meta.created).toISOString()}</dd>
        </div>
        <div>
          <dt>updated</dt>
          <dd>{new Date(meta.updated).toISOString()}</dd>
        </div>
      </dl>
      <JsonView value={value} />
      <form class="editor" onSubmit={(event) => (event.preventDefault(), void apply())}>
        <fieldset>
          <legend>Edit</legend>
          <label class="check">
            <input type="radio" name="mode" checked={mode === 'merge'} onChange={() => choose('merge')} /> merge patch (RFC 7396)
          </label>
          <label class="check">
            <input type="radio" name="mode" checked={mode === 'put'} onChange={() => choose('put')} /> put (replace)
          </label>
        </fieldset>
        <textarea name="json" rows={6} spellcheck={false} value={text} onInput={(event) => setText(event.currentTarget.value)} aria-label="JSON" />
        <div class="buttons">
          <button type="submit" name="apply">
            {mode === 'merge' ? 'Merge' : 'Put'}
          </button>
          <button type="button" name="delete" class="danger" onClick={() => void run(() => remote.table(table).delete(recordKey))}>
            Delete
          </button>
        </div>
        <Outcome outcome={outcome} />
      </form>
    </div>
  );
}

/** Puts a new record (or replaces one) by key. */
function NewRecord({ remote, table, done }: { remote: RemoteDatabase; table: string; done: () => void }) {
  const [key, setKey] = useState('');
  const [text, setText] = useState('{}');
  const [outcome, setOutcome] = useState<{ error?: unknown; seq?: number } | undefined>(undefined);
  const put = async (): Promise<void> => {
    try {
      setOutcome({ seq: await remote.table(table).put(key, parse(text)) });
      done();
    } catch (error) {
      setOutcome({ error });
    }
  };
  return (
    <details class="new-record">
      <summary>New record</summary>
      <form onSubmit={(event) => (event.preventDefault(), void put())}>
        <label>
          Key <input name="key" value={key} onInput={(event) => setKey(event.currentTarget.value)} spellcheck={false} />
        </label>
        <textarea name="json" rows={4} spellcheck={false} value={text} onInput={(event) => setText(event.currentTarget.value)} aria-label="JSON" />
        <button type="submit">Put</button>
        <Outcome outcome={outcome} />
      </form>
    </details>
  );
}

function Outcome({ outcome }: { outcome: { error?: unknown; seq?: number } | undefined }) {
  if (outcome === undefined) return null;
  if (outcome.error !== undefined) return <ErrorNote error={outcome.error} />;
  return (
    <p class="ok" role="status">
      Committed at seq {outcome.seq}.
    </p>
  );
}

/** The editor's text as JSON, or a clear error (the write is not sent). */
function parse(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw Object.assign(new Error(`Not JSON: ${(error as Error).message}`), { code: 'INVALID_JSON' });
  }
}
