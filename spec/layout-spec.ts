import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** Every module of src/ (path relative to src/) and the modules of src/ it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.tsx')) {
        const text = readFileSync(path, 'utf8');
        const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((match) =>
          relative(SRC, resolveSource(normalize(join(dirname(path), match[1]!)))),
        );
        graph.set(relative(SRC, path), targets);
      }
    }
  };
  walk(SRC);
  return graph;
}

/** The source file an import names: `x.js` is `x.ts`, or `x.tsx` when that is the one there. */
function resolveSource(path: string): string {
  const base = path.replace(/\.js$/, '');
  return existsSync(base + '.tsx') ? base + '.tsx' : base + '.ts';
}

/** The folder of a module (`engine`, `model`, ...), or the module itself at the top (`errors.ts`). */
const folderOf = (module: string): string => module.split('/')[0]!;

describe('The layout of src/', () => {
  const graph = importGraph();
  const edges = (from: (folder: string) => boolean): [string, string][] =>
    [...graph].flatMap(([module, targets]) => (from(folderOf(module)) ? targets.map((target): [string, string] => [module, target]) : []));

  it('should read the imports it checks (the control for the checks below)', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get('db/table.ts')).toContain('engine/lifecycle.ts');
  });

  it('should keep the model browser-safe: it imports json/, errors.ts and itself only', () => {
    const stray = edges((folder) => folder === 'model').filter(([, target]) => !['model', 'json', 'errors.ts'].includes(folderOf(target)));
    expect(stray).toEqual([]);
  });

  it('should keep the engine internal: nothing of storage/, server/, client/ or operators/ imports it, nor does the model', () => {
    const into = edges((folder) => ['storage', 'server', 'client', 'operators', 'model', 'json', 'sync'].includes(folder)).filter(
      ([, target]) => folderOf(target) === 'engine',
    );
    expect(into).toEqual([]);
  });

  it('should keep the browser client off the engine, storage, the server and the database', () => {
    const stray = edges((folder) => folder === 'client').filter(([, target]) => ['engine', 'storage', 'server', 'db'].includes(folderOf(target)));
    expect(stray).toEqual([]);
  });

  it('should keep the inspector page a client of the server like any other: it imports the browser client and itself only', () => {
    const imports = edges((folder) => folder === 'inspector');
    expect(imports.length).toBeGreaterThan(10);
    expect(imports.filter(([, target]) => folderOf(target) !== 'inspector' && target !== 'client/browser.ts')).toEqual([]);
  });

  it('should keep the cluster under the database handles: it drives the engine and reads the stream, and knows nothing of db/, server/ or client/', () => {
    const imports = edges((folder) => folder === 'cluster');
    expect(imports.some(([, target]) => target === 'engine/lifecycle.ts')).toBeTrue();
    expect(imports.filter(([, target]) => ['db', 'server', 'client', 'sync', 'cli'].includes(folderOf(target)))).toEqual([]);
  });

  it('should have no cycle between folders', () => {
    const folders = new Map<string, Set<string>>();
    for (const [module, target] of edges(() => true)) {
      const [from, to] = [folderOf(module), folderOf(target)];
      if (from === to) continue;
      if (!folders.has(from)) folders.set(from, new Set());
      folders.get(from)!.add(to);
    }
    const cycles: string[] = [];
    const visit = (folder: string, path: string[]): void => {
      if (path.includes(folder)) {
        cycles.push([...path.slice(path.indexOf(folder)), folder].join(' -> '));
        return;
      }
      for (const next of folders.get(folder) ?? []) visit(next, [...path, folder]);
    };
    for (const folder of folders.keys()) visit(folder, []);
    expect(cycles).toEqual([]);
  });
});
