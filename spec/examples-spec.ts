import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const run = promisify(execFile);
const QUICKSTART = fileURLToPath(new URL('../../examples/quickstart/index.js', import.meta.url));

describe('examples/quickstart', () => {
  afterEach(removeTempDirs);

  it('should run, narrate each step, and keep its visit count across runs', async () => {
    const env = { ...process.env, RXKV_DIR: tempDir('rxkv-quickstart') };
    const first = await run(process.execPath, [QUICKSTART], { env });
    expect(first.stdout).toContain('get: {"username":"roaringtt","profile":{"age":376,"city":"Oslo"}}');
    expect(first.stdout).toContain('snapshot: {"username":"roaringtt","profile":{"age":376,"city":"Oslo"}}');
    expect(first.stdout).toContain('patch [{"op":"add","path":"/profile/city","value":"Oslo"}]');
    expect(first.stdout).toMatch(/no\/bergen: .*\n\s+no\/oslo: /);
    expect(first.stdout).toContain('has run 1 time(s)');
    const second = await run(process.execPath, [QUICKSTART], { env });
    expect(second.stdout).toContain('has run 2 time(s)');
  });
});
