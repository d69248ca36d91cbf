import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { removeTempDirs, tempDir } from './helpers/temp.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('The packed package', () => {
  afterEach(removeTempDirs);

  it('should install from its tarball and work through every export', async () => {
    const packDir = tempDir('rxkv-pack');
    const { stdout } = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: ROOT });
    const [{ filename, files }] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    const paths = files.map((file) => file.path);
    expect(paths).toContain('dist/index.js');
    expect(paths).toContain('dist/index.d.ts');
    expect(paths).toContain('dist/server/index.js');
    expect(paths).toContain('dist/client/browser.js');
    expect(paths).toContain('dist/client/node.js');
    for (const file of ['index.html', 'app.js', 'app.css']) expect(paths).toContain(`dist/inspector/${file}`);
    expect(paths.some((path) => path.startsWith('src/') || path.startsWith('spec/'))).toBeFalse();

    const app = tempDir('rxkv-app');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(packDir, filename)], { cwd: app });
    writeFileSync(
      join(app, 'main.js'),
      `import { open, uuid, RxkvError } from 'rxkv';
       import { mergePatch } from 'rxkv/json';
       import { ofOp } from 'rxkv/operators';
       import { serve } from 'rxkv/server';
       import { connect } from 'rxkv/client';
       import { firstValueFrom } from 'rxjs';
       const db = await open(process.argv[2]);
       const id = uuid();
       const created = firstValueFrom(db.table('t').changes().pipe(ofOp('new')));
       await db.table('t').merge(id, { a: { b: 1 } });
       if ((await created).key !== id) throw new Error('no change event');
       const merged = mergePatch(db.table('t').get(id), { a: { c: 2 } });
       const server = await serve(db, { inspector: true });
       const page = await fetch('http://127.0.0.1:' + server.port + '/inspector/app.js');
       if (page.status !== 200 || (await page.text()).length < 10000) throw new Error('no inspector page');
       const remote = connect('ws://127.0.0.1:' + server.port);
       await remote.table('t').merge(id, { a: { d: 3 } });
       await remote.close();
       await server.close();
       if (db.table('t').get(id).a.d !== 3) throw new Error('no write from the client');
       await db.close();
       console.log(JSON.stringify({ merged, isError: new RxkvError('INVALID_KEY', 'x') instanceof Error }));`,
    );
    const result = await run(process.execPath, ['main.js', join(app, 'data')], { cwd: app });
    expect(JSON.parse(result.stdout)).toEqual({ merged: { a: { b: 1, c: 2 } }, isError: true });
    // The rxkv command, as npm installed it: on the database the app just wrote.
    const bin = join(app, 'node_modules', '.bin', 'rxkv');
    const stats = await run(bin, ['stats', join(app, 'data'), '--json'], { cwd: app });
    expect(JSON.parse(stats.stdout).tables).toEqual([{ name: 't', records: 1, bytes: jasmine.any(Number) }]);
  }, 180_000);
});
