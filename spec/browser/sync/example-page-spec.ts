import { firstValueFrom } from 'rxjs';
import { connect, uuid, type RemoteDatabase } from 'rxkv/client';
import { eventually, fixture } from './fixture.js';

describe('examples/sync: the page', () => {
  let frame: HTMLIFrameElement;
  let elsewhere: RemoteDatabase;

  afterEach(async () => {
    frame?.remove();
    await elsewhere?.close();
  });

  /** The page, served through Karma's proxy (same origin, so the spec can read it), synced with `sync` (the example's server), once rendered. */
  async function openPage(sync = fixture.exampleSyncUrl, into = document.createElement('iframe')): Promise<() => Document> {
    if (into === frame || frame === undefined || !frame.isConnected) frame = into;
    into.src = `/example/?sync=${encodeURIComponent(sync)}`;
    if (!into.isConnected) document.body.append(into);
    const page = (): Document => into.contentDocument!;
    // A reload: the old document goes first.
    await eventually(() => page()?.location.search.includes(encodeURIComponent(sync)) === true && page().querySelector('#todos[data-seq]') !== null, 'the first render', 10_000);
    return page;
  }

  /**
   * Two frames of the page (two tabs of one origin), online once (each takes a slot of the store),
   * then offline, each adding a todo: shown at once, stored, not sent.
   */
  async function addingOffline(first: HTMLIFrameElement, second: HTMLIFrameElement): Promise<{ titles: string[] }> {
    await openPage(fixture.exampleSyncUrl, first);
    await openPage(fixture.exampleSyncUrl, second);
    const pages = [await openPage(fixture.offlineSyncUrl, first), await openPage(fixture.offlineSyncUrl, second)];
    const titles = [`left ${uuid()}`, `right ${uuid()}`];
    pages.forEach((page, i) => add(page, titles[i]!));
    pages.forEach((page, i) => expect(rowTitled(page, titles[i]!)).withContext('each frame shows its own at once').toBeDefined());
    await storedWrites(2);
    return { titles };
  }

  /** Adds a todo through the page's form. */
  function add(page: () => Document, title: string): void {
    (page().querySelector('#new-title') as HTMLInputElement).value = title;
    (page().querySelector('#add') as HTMLButtonElement).click();
  }

  const rowTitled = (page: () => Document, title: string): Element | undefined =>
    [...page().querySelectorAll('li[data-key]')].find((li) => li.querySelector('.title')!.textContent === title);

  it('should show the table live: an edit made elsewhere appears on the page', async () => {
    const page = await openPage();
    elsewhere = connect(fixture.exampleSyncUrl);
    // The first render may be the page's stored replica: it is the server's once resumed.
    const before = (await firstValueFrom(elsewhere.table('todos').state$)).size;
    await eventually(() => page().querySelectorAll('li[data-key]').length === before, 'the page to show the server\'s todos');
    expect(page().querySelector('#status')!.textContent).toBe('open');

    const key = uuid();
    await elsewhere.table('todos').merge(key, { title: 'written elsewhere', done: false });
    const row = (): Element | null => page().querySelector(`li[data-key="${key}"]`);
    await eventually(() => row() !== null, 'the new row');
    expect(row()!.querySelector('.title')!.textContent).toBe('written elsewhere');
    expect(page().querySelectorAll('li[data-key]').length).toBe(before + 1);

    await elsewhere.table('todos').merge(key, { done: true });
    await eventually(() => row()!.getAttribute('data-done') === 'true', 'the toggle');
    await elsewhere.table('todos').delete(key);
    await eventually(() => row() === null, 'the deletion');
  });

  it("should show the page's own edit at once (optimistic), marked until the server confirms it", async () => {
    const page = await openPage();
    expect(page().querySelector('.hint')!.textContent).toContain('optimistic');
    elsewhere = connect(fixture.exampleSyncUrl);
    const key = uuid();
    await elsewhere.table('todos').merge(key, { title: 'toggle me', done: false });
    const row = (): Element | null => page().querySelector(`li[data-key="${key}"]`);
    await eventually(() => row() !== null, 'the row');

    (row()!.querySelector('.toggle') as HTMLInputElement).click();
    // In the same tick: the replica shows it, and the row says it waits for the server.
    expect(row()!.getAttribute('data-done')).toBe('true');
    expect(row()!.hasAttribute('data-pending')).toBeTrue();
    await eventually(() => !row()!.hasAttribute('data-pending'), 'the confirmation');
    expect(row()!.getAttribute('data-done')).toBe('true');
    const seen: unknown[] = [];
    elsewhere.table('todos').watch(key).subscribe((todo) => seen.push(todo));
    await eventually(() => seen.length > 0, 'the record elsewhere');
    expect(seen.at(-1)).toEqual({ title: 'toggle me', done: true });
    await elsewhere.table('todos').delete(key);
  });

  it('should keep the todos and an edit made offline through a reload, and send the edit once when the server is back', async () => {
    let page = await openPage();
    expect(page().querySelector('.hint')!.textContent).toContain('IndexedDB');
    const title = `offline ${uuid()}`;
    add(page, title);
    await eventually(() => rowTitled(page, title) !== undefined && !rowTitled(page, title)!.hasAttribute('data-pending'), 'the new todo confirmed');
    const key = rowTitled(page, title)!.getAttribute('data-key')!;
    elsewhere = connect(fixture.exampleSyncUrl);
    const changes: unknown[] = [];
    elsewhere.table('todos').changes({ key }).subscribe((change) => changes.push(change.value));
    await eventually(() => elsewhere.status.state === 'open', 'the other client');

    // Offline: the page shows what it stored, and an edit waits, marked.
    page = await openPage(fixture.offlineSyncUrl, frame);
    expect(page().querySelector('#status')!.textContent).toBe('connecting');
    (rowTitled(page, title)!.querySelector('.toggle') as HTMLInputElement).click();
    expect(rowTitled(page, title)!.getAttribute('data-done')).toBe('true');
    expect(rowTitled(page, title)!.hasAttribute('data-pending')).toBeTrue();
    await storedWrites(1);

    // A reload, still offline: the edit is still there, still waiting.
    page = await openPage(fixture.offlineSyncUrl, frame);
    expect(rowTitled(page, title)!.getAttribute('data-done')).toBe('true');
    expect(rowTitled(page, title)!.hasAttribute('data-pending')).toBeTrue();
    expect(changes.length).withContext('nothing reached the server').toBe(0);

    // Back online: sent, confirmed, applied once.
    page = await openPage(fixture.exampleSyncUrl, frame);
    await eventually(() => rowTitled(page, title) !== undefined && !rowTitled(page, title)!.hasAttribute('data-pending'), 'the edit confirmed');
    await eventually(() => changes.length > 0, 'the edit elsewhere');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(changes).toEqual([{ title, done: true }]);
    await elsewhere.table('todos').delete(key);
  }, 30_000);

  it('should send the todos two frames added offline, once each, when both come back', async () => {
    const first = document.createElement('iframe');
    const second = document.createElement('iframe');
    try {
      const { titles } = await addingOffline(first, second);
      elsewhere = connect(fixture.exampleSyncUrl);
      const changes: string[] = [];
      elsewhere.table<{ title: string }>('todos').changes().subscribe((change) => titles.includes(change.value?.title ?? '') && changes.push(change.value!.title));
      await eventually(() => elsewhere.status.state === 'open', 'the other client');

      const [backLeft, backRight] = await Promise.all([openPage(fixture.exampleSyncUrl, first), openPage(fixture.exampleSyncUrl, second)]);
      for (const page of [backLeft, backRight]) {
        await eventually(() => titles.every((title) => rowTitled(page, title) !== undefined && !rowTitled(page, title)!.hasAttribute('data-pending')), 'both todos in both frames, confirmed', 10_000);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(changes.sort()).withContext('each applied once').toEqual([...titles].sort());
      const state = elsewhere.table<{ title: string }>('todos').snapshot();
      for (const [key, todo] of state.entries()) if (titles.includes(todo.title)) await elsewhere.table('todos').delete(key);
    } finally {
      first.remove();
      second.remove();
    }
  }, 30_000);

  it('should send the todos two frames added offline, once each, when one frame comes back after the other closed', async () => {
    const first = document.createElement('iframe');
    const second = document.createElement('iframe');
    try {
      const { titles } = await addingOffline(first, second);
      first.remove(); // a tab closed while offline, its todo pending

      const back = await openPage(fixture.exampleSyncUrl, second);
      await eventually(() => titles.every((title) => rowTitled(back, title) !== undefined && !rowTitled(back, title)!.hasAttribute('data-pending')), 'both todos confirmed', 10_000);
      elsewhere = connect(fixture.exampleSyncUrl);
      const state = await firstValueFrom(elsewhere.table<{ title: string }>('todos').state$);
      const found = [...state.values()].filter((todo) => titles.includes(todo.title));
      expect(found.map((todo) => todo.title).sort()).withContext('no loss, no duplicate').toEqual([...titles].sort());
      for (const [key, todo] of state.entries()) if (titles.includes(todo.title)) await elsewhere.table('todos').delete(key);
    } finally {
      first.remove();
      second.remove();
    }
  }, 30_000);
});

/** Waits until the page's IndexedDB store holds at least `count` pending writes, over all its slots. */
async function storedWrites(count: number): Promise<void> {
  const countIn = async (name: string): Promise<number> => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const opening = indexedDB.open(name);
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    });
    try {
      if (!db.objectStoreNames.contains('writes')) return 0;
      return await new Promise<number>((resolve, reject) => {
        const counting = db.transaction('writes').objectStore('writes').count();
        counting.onsuccess = () => resolve(counting.result);
        counting.onerror = () => reject(counting.error);
      });
    } finally {
      db.close();
    }
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    const names = (await indexedDB.databases()).map(({ name }) => name ?? '').filter((name) => name.startsWith('rxkv:rxkv-example-todos:'));
    const counts = await Promise.all(names.map(countIn));
    if (counts.reduce((sum, each) => sum + each, 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} stored writes (found ${counts.join(', ')})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
