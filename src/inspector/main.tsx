import { render } from 'preact';
import { App } from './app.js';

/** The sync endpoint: ?sync=ws://host:port/path, or this page's server at the path it wrote in. */
function syncUrl(): string {
  const given = new URLSearchParams(location.search).get('sync');
  if (given !== null) return given;
  const path = document.querySelector('meta[name="rxkv-sync"]')?.getAttribute('content') ?? '/';
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}

render(<App syncUrl={syncUrl()} />, document.getElementById('app')!);
