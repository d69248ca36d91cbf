// The page of the sync example: a live replica of the server's `todos` table, through rxkv/client.
// Each todo is a record { title, done } under a time-sortable key, so the list shows them oldest first.
import { connect, indexedDbStore, uuid } from 'rxkv/client';

// The sync endpoint: this page's server, unless ?sync=ws://host:port/path points elsewhere.
const syncUrl = new URLSearchParams(location.search).get('sync') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
// Optimistic: an edit shows at once, before the server confirms it, and goes back if refused.
// Persisted: the replica and the edits not yet confirmed are kept in IndexedDB, so a reload shows
// them at once, offline too, and sends those edits (each applied once) when the server is back.
const remote = connect(syncUrl, { optimistic: true, persist: indexedDbStore('rxkv-example-todos') });
const todos = remote.table('todos');

const status = document.getElementById('status');
const list = document.getElementById('todos');
const empty = document.getElementById('empty');
const error = document.getElementById('error');
const form = document.getElementById('new-todo');
const input = document.getElementById('new-title');

// 'connecting' → 'open'; back to 'connecting' (with a reason) while it reconnects after a drop.
remote.status$.subscribe(({ state, reason }) => {
  status.textContent = state;
  status.dataset.state = state;
  status.title = reason ?? '';
});

// An immutable snapshot of the whole table once it arrived, then a new one after every change,
// whoever made it. Rendering is all there is to keeping the page in sync.
todos.state$.subscribe({ next: render, error: report });
// A confirmed edit may change nothing shown: the rows' marks follow the count of pending edits too.
let rendered = false;
remote.pending$.subscribe(() => rendered && render(todos.snapshot()));
// An edit made before a reload that the server refused (its row went back by itself), or a store that failed.
remote.errors$.subscribe(report);

function render(snapshot) {
  rendered = true;
  const stale = new Map([...list.children].map((li) => [li.dataset.key, li]));
  let next = list.firstElementChild;
  for (const [key, todo] of snapshot.entries()) {
    const li = stale.get(key) ?? row(key);
    stale.delete(key);
    const done = todo?.done === true;
    li.dataset.done = String(done);
    li.querySelector('.toggle').checked = done;
    li.querySelector('.title').textContent = String(todo?.title ?? '');
    li.toggleAttribute('data-pending', snapshot.isPending(key));
    if (li === next) next = li.nextElementSibling;
    else list.insertBefore(li, next); // new or moved; rows in place stay untouched (and keep focus)
  }
  for (const li of stale.values()) li.remove();
  empty.hidden = snapshot.size > 0;
  list.dataset.seq = String(snapshot.seq);
}

/** <li data-key><label><input type=checkbox class=toggle><span class=title></label><button class=delete></li> */
function row(key) {
  const li = document.createElement('li');
  li.dataset.key = key;
  const label = document.createElement('label');
  const toggle = document.createElement('input');
  toggle.type = 'checkbox';
  toggle.className = 'toggle';
  const title = document.createElement('span');
  title.className = 'title';
  label.append(toggle, title);
  const remove = document.createElement('button');
  remove.className = 'delete';
  remove.textContent = '✕';
  remove.title = remove.ariaLabel = 'Delete';
  li.append(label, remove);
  return li;
}

// Edits show at once through state$ (the replica applies them before the server answers); a row
// is marked while an edit of it waits for the server's confirmation (snapshot.isPending).
list.addEventListener('change', (event) => {
  if (!event.target.matches('.toggle')) return;
  const { key } = event.target.closest('li').dataset;
  write(todos.merge(key, { done: event.target.checked }));
});

list.addEventListener('click', (event) => {
  if (!event.target.matches('.delete')) return;
  const { key } = event.target.closest('li').dataset;
  write(todos.delete(key));
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const title = input.value.trim();
  if (title === '') return;
  input.value = '';
  const key = uuid(); // time-sorted: new todos come last
  write(todos.merge(key, { title, done: false }));
});

/** A write resolves once durable on the server; a refused one is undone by the replica itself (state$ shows it), and said here. */
function write(promise) {
  promise.then(
    () => (error.hidden = true),
    (reason) => reason?.code !== 'CLIENT_CLOSED' && report(reason), // closed by a reload: kept, and sent by the next page
  );
}

function report(reason) {
  error.textContent = reason instanceof Error ? reason.message : String(reason);
  error.hidden = false;
}
