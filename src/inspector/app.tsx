import { useEffect, useMemo, useState } from 'preact/hooks';
import { connect, type Status } from '../client/browser.js';
import { ChangesView } from './changes-view.js';
import { useObservable, usePoll } from './hooks.js';
import { RecordsView } from './records-view.js';
import { ServerView } from './server-view.js';
import { TablesView } from './tables-view.js';

const VIEWS = ['tables', 'records', 'changes', 'server'] as const;
type View = (typeof VIEWS)[number];
/** Where the token is kept for this tab (not across tabs: it is a credential). */
const TOKEN_KEY = 'rxkv-inspector-token';

/** The place in the page, kept in the URL's hash (`#records/people`): reloads and links keep it. */
function readHash(): { view: View; table: string } {
  const [view, ...rest] = decodeURIComponent(location.hash.slice(1)).split('/');
  return { view: (VIEWS as readonly string[]).includes(view!) ? (view as View) : 'tables', table: rest.join('/') };
}

export function App({ syncUrl }: { syncUrl: string }) {
  const [token, setToken] = useState<string | undefined>(() => sessionStorage.getItem(TOKEN_KEY) ?? undefined);
  const remote = useMemo(() => connect(syncUrl, token === undefined ? {} : { token }), [syncUrl, token]);
  useEffect(() => () => void remote.close(), [remote]);
  const status = useObservable<Status>(remote.status$, remote.status);
  const [place, setPlace] = useState(readHash);
  useEffect(() => {
    const onHash = (): void => setPlace(readHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const go = (view: View, table = place.table): void => {
    location.hash = table === '' ? view : `${view}/${table}`;
  };
  const tables = usePoll(() => remote.tables(), 1000, [remote]);

  if (status.state === 'refused') {
    return (
      <TokenForm
        reason={status.reason ?? 'refused'}
        hadToken={token !== undefined}
        submit={(next) => {
          sessionStorage.setItem(TOKEN_KEY, next);
          setToken(next);
        }}
      />
    );
  }
  const onTabKey = (event: KeyboardEvent): void => {
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (step === 0) return;
    const next = VIEWS[(VIEWS.indexOf(place.view) + step + VIEWS.length) % VIEWS.length]!;
    go(next);
    document.getElementById(`tab-${next}`)?.focus();
  };
  return (
    <>
      <header class="top">
        <h1>rxkv inspector</h1>
        <span class={`status status-${status.state}`} id="status" title={status.reason}>
          {status.state}
        </span>
        <nav role="tablist" aria-label="views" onKeyDown={onTabKey}>
          {VIEWS.map((view) => (
            <button key={view} type="button" role="tab" id={`tab-${view}`} aria-selected={place.view === view} tabIndex={place.view === view ? 0 : -1} onClick={() => go(view)}>
              {view[0]!.toUpperCase() + view.slice(1)}
            </button>
          ))}
        </nav>
        {token !== undefined && (
          <button
            type="button"
            class="quiet"
            onClick={() => {
              sessionStorage.removeItem(TOKEN_KEY);
              setToken(undefined);
            }}
          >
            Forget token
          </button>
        )}
      </header>
      <main>
        <div role="tabpanel" aria-labelledby={`tab-${place.view}`}>
        {place.view === 'tables' && <TablesView tables={tables} open={(view, table) => go(view, table)} />}
        {place.view === 'records' && <RecordsView remote={remote} tables={tables.value ?? []} table={place.table} setTable={(table) => go('records', table)} />}
        {place.view === 'changes' && <ChangesView remote={remote} tables={tables.value ?? []} table={place.table} setTable={(table) => go('changes', table)} />}
        {place.view === 'server' && <ServerView remote={remote} />}
        </div>
      </main>
    </>
  );
}

/** Asked for when the server refused the connection: why, and a token to try. */
function TokenForm({ reason, hadToken, submit }: { reason: string; hadToken: boolean; submit: (token: string) => void }) {
  const [text, setText] = useState('');
  return (
    <main class="token">
      <h1>rxkv inspector</h1>
      <form onSubmit={(event) => (event.preventDefault(), text !== '' && submit(text))}>
        <p class="error" role="alert" id="refused">
          The server refused {hadToken ? 'this token' : 'the connection'}: <strong>{reason}</strong>.
        </p>
        <label>
          Token
          <input name="token" type="password" autoComplete="off" autoFocus value={text} onInput={(event) => setText(event.currentTarget.value)} />
        </label>
        <button type="submit">Connect</button>
      </form>
    </main>
  );
}
