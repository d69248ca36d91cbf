import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('rxkv/client bundled for the browser', () => {
  async function inputs(platform: 'browser' | 'node'): Promise<string[]> {
    const result = await build({
      stdin: { contents: "export * from 'rxkv/client';", resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform,
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    return Object.keys(result.metafile.inputs);
  }

  it('should hold no RocksDB, no ws and no Node built-in', async () => {
    const files = await inputs('browser'); // a Node built-in in the graph fails this build
    expect(files).toContain('dist/client/browser.js');
    expect(files.filter((file) => /node_modules\/(ws|rocksdb|immer)\/|dist\/(storage|server|database)/.test(file) || file.startsWith('node:'))).toEqual([]);
  });

  it('should hold no module of the engine or of storage: the client speaks the model layer only', async () => {
    const files = await inputs('browser');
    expect(files).toContain('dist/model/change.js');
    expect(files.filter((file) => /^dist\/(engine|storage|db)\//.test(file))).toEqual([]);
  });

  it('should take ws in Node, through the node export condition (the control for the check above)', async () => {
    const files = await inputs('node');
    expect(files).toContain('dist/client/node.js');
    expect(files.some((file) => file.includes('node_modules/ws/'))).toBeTrue();
  });
});
