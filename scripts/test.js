// `npm test`: builds, runs every Node spec (Jasmine) and every browser spec (Karma, headless
// Chromium), and ends with one line: `N passed, N failed`.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import Jasmine from 'jasmine';
import { runBrowserSpecs } from './karma.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

// The package's own build (the inspector's bundle included: specs serve it), then the specs'.
execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
execFileSync('npm', ['run', '--silent', 'build:spec'], { stdio: 'inherit' });

let passed = 0;
let failed = 0;

const jasmine = new Jasmine({ projectBaseDir: root });
await jasmine.loadConfigFile('spec/support/jasmine.json');
jasmine.exitOnCompletion = false;
jasmine.addReporter({
  specDone(result) {
    if (result.status === 'passed') passed++;
    else if (result.status === 'failed') failed++;
  },
  suiteDone(result) {
    if (result.status === 'failed') failed++; // an afterAll that threw
  },
});
const node = await jasmine.execute();
if (passed + failed === 0) failed++;
if (node.overallStatus === 'incomplete') {
  console.error(`Node specs incomplete: ${node.incompleteReason}`);
  failed++;
}
console.log(`\nNode specs: ${passed} passed, ${failed} failed`);

let browser;
try {
  browser = await runBrowserSpecs();
} catch (error) {
  console.error(`Browser specs could not run: ${error.message}`);
  browser = { passed: 0, failed: 1 };
}
console.log(`Browser specs: ${browser.passed} passed, ${browser.failed} failed`);

passed += browser.passed;
failed += browser.failed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
