// Bundles the browser specs and runs them in headless Chromium; resolves with the counts.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { ensureChromium } from './chromium.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

export async function runBrowserSpecs() {
  process.env.CHROME_BIN = ensureChromium();
  const entryPoints = readdirSync(resolve(root, 'spec/browser'), { recursive: true })
    .filter((file) => file.endsWith('-spec.ts'))
    // While working on some: RXKV_BROWSER_SPECS=persist runs only the files whose path has that in it.
    .filter((file) => process.env.RXKV_BROWSER_SPECS === undefined || file.includes(process.env.RXKV_BROWSER_SPECS))
    .map((file) => resolve(root, 'spec/browser', file));
  if (entryPoints.length === 0) throw new Error('No browser specs found under spec/browser.');
  // One bundle, browser platform: a Node built-in in the import graph fails the build here.
  await build({
    stdin: {
      contents: entryPoints.map((file) => `import ${JSON.stringify(file)};`).join('\n'),
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    outfile: resolve(root, 'build/browser/specs.js'),
    sourcemap: 'inline',
    logLevel: 'warning',
    ignoreAnnotations: true, // the package is sideEffects: false, which would drop the spec imports
  });
  const karma = require('karma');
  const config = await karma.config.parseConfig(resolve(root, 'karma.conf.js'), {}, { promiseConfig: true, throwErrors: true });
  // The sync specs talk to a real server; the example's and the inspector's pages are proxied so that a spec can look into their iframes.
  // Imported here, not above: it runs the build (dist/), which npm test makes after loading this file.
  const { startSyncFixture } = await import('./sync-fixture.js');
  const fixture = await startSyncFixture();
  config.client.args = [JSON.stringify(fixture.args)];
  config.proxies = {
    ...config.proxies,
    '/example/': fixture.args.exampleUrl,
    '/inspector/': fixture.args.inspectorUrl,
    '/secure-inspector/': fixture.args.secureInspectorUrl,
  };
  try {
    return await new Promise((resolvePromise, reject) => {
      let counts = { passed: 0, failed: 0 };
      const server = new karma.Server(config, (exitCode) => {
        if (counts.passed + counts.failed === 0) counts.failed += 1; // a run that executes nothing fails
        resolvePromise({ ...counts, exitCode });
      });
      server.on('run_complete', (_browsers, results) => {
        counts = { passed: results.success, failed: results.failed + (results.error ? 1 : 0) };
      });
      server.start().catch(reject);
    });
  } finally {
    await fixture.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { passed, failed } = await runBrowserSpecs();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
