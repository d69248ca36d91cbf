// The page of the sync example: a live replica of the server's `todos` table, through rxkv/client.
// Each todo is a record { title, done } under a time-sortable key, so the list shows them oldest first.
import { connect, uuid } from 'rxkv/client';

// The sync endpoint: this page's server, unless ?sync=ws://host:port/path points elsewhere.
const syncUrl = new URLSearchParams(location.search).get('sync') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/sync`;
const remote = connect(syncUrl);
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
let shown = null;
todos.state$.subscribe({ next: render, error: report });

function render(snapshot) {
  shown = snapshot;
  const stale = new Map([...list.children].map((li) => [li.dataset.key, li]));
  let next = list.firstElementChild;
  for (const [key, todo] of snapshot.entries()) {
    const li = stale.get(key) ?? row(key);
    stale.delete(key);
    const done = todo?.done === true;
    li.dataset.done = String(done);
    li.querySelector('.toggle').checked = done;
    li.querySelector('.title').textContent = String(todo?.title ?? '');
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

// Edits go to the server; the page changes when they come back through state$, as for everyone else.
list.addEventListener('change', (event) => {
  if (!event.target.matches('.toggle')) return;
  const { key } = event.target.closest('li').dataset;
  write(todos.merge(key, { done: event.target.checked }));
});

list.addEventListener('click', (event) => {
  if (!event.target.matches('.delete')) return;
  write(todos.delete(event.target.closest('li').dataset.key));
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const title = input.value.trim();
  if (title === '') return;
  input.value = '';
  write(todos.merge(uuid(), { title, done: false })); // time-sorted: new todos come last
});

/** A write resolves once durable on the server (queued while reconnecting); a failed one is shown. */
function write(promise) {
  promise.then(
    () => (error.hidden = true),
    (reason) => {
      report(reason);
      if (shown !== null) render(shown); // undo what the checkbox shows
    },
  );
}

function report(reason) {
  error.textContent = reason instanceof Error ? reason.message : String(reason);
  error.hidden = false;
}
