// `node scripts/measure-tabs.js` (after `npm run build`): in headless Chromium, what each tab's own
// slot of a persisted replica costs (the JS heap of a 10,000-record replica, its reopening offline
// from IndexedDB, a write's time to its save) against what a leader tab would add to every write and
// change of the others (a BroadcastChannel round trip between two frames of one origin).
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { open } from 'rxkv';
import { serve } from 'rxkv/server';
import { ensureChromium } from './chromium.js';
const db = await open(mkdtempSync('/tmp/tabs-'));
await db.transaction((tx) => { for (let i = 0; i < 10000; i++) tx.table('t').put(`k${String(i).padStart(5, '0')}`, { i, name: `record ${i}`, tags: ['a', 'b'], nested: { x: i } }); });
const { outputFiles } = await build({ stdin: { contents: "import * as c from 'rxkv/client'; import * as rx from 'rxjs'; window.rxkv = c; window.rx = rx;", resolveDir: fileURLToPath(new URL('..', import.meta.url)) }, bundle: true, platform: 'browser', format: 'iife', write: false });
const script = outputFiles[0].text;
const http = createServer((req, res) => {
  if (req.url === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
  res.writeHead(200, { 'content-type': 'text/html' }).end('<script src="/app.js"></script>');
});
await new Promise((r) => http.listen(0, '127.0.0.1', r));
const server = await serve(db, { server: http, path: '/sync' });
const base = `http://127.0.0.1:${http.address().port}`;
const browser = await puppeteer.launch({ executablePath: ensureChromium(), args: ['--no-sandbox', '--headless', '--enable-precise-memory-info', '--js-flags=--expose-gc'] });
const page = await browser.newPage();
await page.goto(base + '/');
const result = await page.evaluate(async (base) => {
  const { connect, indexedDbStore } = window.rxkv;
  const { firstValueFrom, filter } = window.rx;
  const sync = base.replace('http', 'ws') + '/sync';
  const heap = () => { gc(); return performance.memory.usedJSHeapSize; };
  const before = heap();
  const first = connect(sync, { persist: indexedDbStore('m') });
  first.table('t').state$.subscribe();
  await firstValueFrom(first.table('t').state$.pipe(filter((s) => s.size === 10000)));
  await new Promise((r) => setTimeout(r, 500));
  const replicaBytes = heap() - before;
  await first.close();
  const reopen = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const again = connect('ws://127.0.0.1:1/sync', { persist: indexedDbStore('m') });
    await firstValueFrom(again.table('t').state$);
    reopen.push(performance.now() - t);
    await again.close();
  }
  // A write's time to its IndexedDB save, offline, 100 in flight.
  const times = [];
  const inner = indexedDbStore('w');
  const called = new Map();
  const store = { load: () => inner.load(), close: () => inner.close(), save: async (b) => { await inner.save(b); const now = performance.now(); for (const w of b.writes) if (called.has(w.m)) times.push(now - called.get(w.m)); } };
  const offline = connect('ws://127.0.0.1:1/sync', { persist: store, optimistic: true });
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 1; i <= 1000; i++) {
    called.set(i, performance.now());
    offline.table('t').merge(`k${i % 100}`, { n: i }).catch(() => {});
    if (i % 100 === 0) while (times.length < i) await new Promise((r) => setTimeout(r, 0));
  }
  await offline.close();
  // A leader tab's hop: a BroadcastChannel round trip to another same-origin frame.
  const frame = document.createElement('iframe');
  frame.srcdoc = "<script>const c = new BroadcastChannel('hop'); c.onmessage = (e) => c.postMessage(e.data);<\/script>";
  document.body.append(frame);
  await new Promise((r) => (frame.onload = r));
  const channel = new BroadcastChannel('hop');
  const hops = [];
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    await new Promise((r) => { channel.onmessage = r; channel.postMessage({ i, change: { table: 't', key: 'k1', patch: [{ op: 'replace', path: '/n', value: i }] } }); });
    hops.push(performance.now() - t);
  }
  const p = (a, q) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) * q)];
  return { replicaMiB: replicaBytes / 1048576, reopenMs: reopen.map((x) => Math.round(x)), storeP50: p(times, 0.5), storeP99: p(times, 0.99), hopP50: p(hops, 0.5), hopP99: p(hops, 0.99) };
}, base);
const ms = (value) => `${value.toFixed(1)} ms`;
console.log(`a tab's own slot: ${result.replicaMiB.toFixed(1)} MiB of JS heap for 10,000 records; reopened offline in ${result.reopenMs.join(', ')} ms; a write stored in ${ms(result.storeP50)} (p50), ${ms(result.storeP99)} (p99), 100 in flight`);
console.log(`a leader tab's hop for the others: ${ms(result.hopP50)} (p50), ${ms(result.hopP99)} (p99) a BroadcastChannel round trip`);
await browser.close(); await server.close(); http.close(); await db.close();
