// Takes a screenshot of each view of the inspector (docs/inspector-*.png) in headless Chromium:
// a database with a few tables, a writer making changes, and the page open on each view.
// `npm run screenshots` (after `npm run build`).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { open } from 'rxkv';
import { connect } from 'rxkv/client';
import { serve } from 'rxkv/server';
import { ensureChromium } from './chromium.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'docs');
mkdirSync(out, { recursive: true });

const dir = mkdtempSync(join(tmpdir(), 'rxkv-screens-'));
const db = await open(join(dir, 'db'));
await db.transaction((tx) => {
  const cities = ['Lisbon', 'Oslo', 'Nairobi', 'Lima', 'Osaka'];
  for (let i = 0; i < 240; i++) {
    tx.table('people').put(`p${String(i).padStart(4, '0')}`, { name: `Person ${i}`, city: cities[i % 5], tags: i % 3 === 0 ? ['admin'] : [], visits: i });
  }
  for (let i = 0; i < 1200; i++) tx.table('orders').put(`o${String(i).padStart(5, '0')}`, { person: `p${String(i % 240).padStart(4, '0')}`, total: (i * 37) % 500, status: 'paid' });
  tx.table('sessions').put('s1', { user: 'p0001', since: Date.now() });
});
const server = await serve(db, { inspector: true, authorize: () => true });
const base = `http://127.0.0.1:${server.port}/inspector/`;

// Two replicas (a whole table, one record), so that the server view has subscriptions to show.
const replica = connect(`ws://127.0.0.1:${server.port}/`);
const subscriptions = [replica.table('people').state$.subscribe(), replica.table('orders').watch('o00001').subscribe()];

// A writer, so that the change stream and the figures move.
let n = 0;
const writer = setInterval(() => {
  n++;
  const person = `p${String(n % 240).padStart(4, '0')}`;
  void db.table('people').merge(person, { visits: 1000 + n, lastSeen: new Date().toISOString(), ...(n % 4 === 0 ? { tags: null } : {}) });
  if (n % 3 === 0) void db.table('orders').put(`o${String(1200 + n).padStart(5, '0')}`, { person, total: n % 90, status: 'new' });
  if (n % 7 === 0) void db.table('sessions').delete('s1');
  if (n % 7 === 1) void db.table('sessions').put('s1', { user: person, since: Date.now() });
}, 40);

const browser = await puppeteer.launch({ executablePath: ensureChromium(), headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 760, deviceScaleFactor: 1 });
  const shoot = async (hash, file, ready, prepare) => {
    await page.goto(`${base}#${hash}`, { waitUntil: 'load' });
    await page.waitForSelector(ready, { timeout: 10_000 });
    if (prepare !== undefined) await prepare();
    await new Promise((done) => setTimeout(done, 1500)); // a second of live changes and figures
    await page.screenshot({ path: join(out, file) });
    console.log(`docs/${file}`);
  };
  await shoot('tables', 'inspector-tables.png', '#tables');
  await shoot('records/people', 'inspector-records.png', '#records', () => page.click('#records li:nth-child(2) .record-head'));
  await shoot('changes', 'inspector-changes.png', '#changes li');
  await shoot('server', 'inspector-server.png', '#server');
  await page.setViewport({ width: 390, height: 760, deviceScaleFactor: 1 });
  await shoot('changes/people', 'inspector-changes-narrow.png', '#changes li');
} finally {
  await browser.close();
  clearInterval(writer);
  for (const subscription of subscriptions) subscription.unsubscribe();
  await replica.close();
  await server.close();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
