// Builds the inspector's page into dist/inspector: its script bundled by esbuild (preact and
// rxkv/client included: the page needs no network but its server), its HTML and CSS copied.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = resolve(root, 'src/inspector');
const out = resolve(root, 'dist/inspector');

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [resolve(source, 'main.tsx')],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: false,
  outfile: resolve(out, 'app.js'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'app.css']) copyFileSync(resolve(source, file), resolve(out, file));
