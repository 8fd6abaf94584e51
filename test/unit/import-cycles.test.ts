import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * docs/architecture.md, "Layers": no import cycle exists, between files or between folders. Type
 * imports count: a cycle of types is still two modules that cannot be understood one without the
 * other. Read from the sources' own import statements, static and dynamic.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every source file (relative to src/) with the source files it imports. */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const imports = new Set<string>();
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) imports.add(relative(SRC, resolve(dirname(file), specifier!)));
    graph.set(relative(SRC, file), imports);
  }
  return graph;
}

/** The graph's cycles, one path each (Tarjan's strongly connected components of more than one node, or a node importing itself). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let member = stack.pop()!; ; member = stack.pop()!) {
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('the module graph of src/', () => {
  const files = importGraph();

  it('reads every import: each names a file that exists', () => {
    assert.ok(files.size > 100, `only ${files.size} files read`);
    const missing = [...files].flatMap(([file, imports]) => [...imports].filter((target) => !files.has(target)).map((target) => `${file} -> ${target}`));
    assert.deepEqual(missing, []);
  });

  it('has no cycle between files', () => {
    assert.deepEqual(cycles(files), []);
  });

  it('has no cycle between folders', () => {
    // The files at src/'s top are no folder: the entry points above everything, version.ts below.
    const folderOf = (file: string) => (dirname(file) === '.' ? file : dirname(file));
    const folders = new Map<string, Set<string>>();
    for (const [file, imports] of files) {
      const from = folderOf(file);
      const targets = folders.get(from) ?? new Set<string>();
      for (const target of imports) if (folderOf(target) !== from) targets.add(folderOf(target));
      folders.set(from, targets);
    }
    assert.deepEqual(cycles(folders), []);
  });

  it('finds a cycle where there is one', () => {
    const graph = new Map([
      ['a.ts', new Set(['b.ts'])],
      ['b.ts', new Set(['c.ts'])],
      ['c.ts', new Set(['a.ts'])],
      ['d.ts', new Set(['a.ts'])],
    ]);
    assert.deepEqual(cycles(graph), [['a.ts', 'b.ts', 'c.ts']]);
  });
});
