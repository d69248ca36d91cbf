import { connect, uuid, type RemoteDatabase } from 'rxkv/client';
import { eventually, fixture } from './fixture.js';

describe('examples/sync: the page', () => {
  let frame: HTMLIFrameElement;
  let elsewhere: RemoteDatabase;

  afterEach(async () => {
    frame?.remove();
    await elsewhere?.close();
  });

  /** The page, served through Karma's proxy (same origin, so the spec can read it), synced with the example's server, once rendered. */
  async function openPage(): Promise<() => Document> {
    frame = document.createElement('iframe');
    frame.src = `/example/?sync=${encodeURIComponent(fixture.exampleSyncUrl)}`;
    document.body.append(frame);
    const page = (): Document => frame.contentDocument!;
    await eventually(() => page()?.querySelector('#todos[data-seq]') !== null, 'the first render', 10_000);
    return page;
  }

  it('should show the table live: an edit made elsewhere appears on the page', async () => {
    const page = await openPage();
    expect(page().querySelector('#status')!.textContent).toBe('open');
    const before = page().querySelectorAll('li[data-key]').length;

    elsewhere = connect(fixture.exampleSyncUrl);
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
});
