import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Modules depend one way (DESIGN.md §2). dependency-cruiser forbids file cycles, but two modules can
 * still cycle through files that each import legally (an entity one way, a service the other): this
 * collapses its graph to src/modules/<name> and looks for cycles between those folders.
 */

type Graph = Map<string, Set<string>>;

const moduleOf = (path: string): string | null => /^src\/modules\/([^/]+)\//.exec(path)?.[1] ?? null;

/** The module → module edges of dependency-cruiser's JSON output, with one file import that makes each. */
function moduleGraph(modules: { source: string; dependencies: { resolved: string }[] }[]): { graph: Graph; why: Map<string, string> } {
  const graph: Graph = new Map();
  const why = new Map<string, string>();
  for (const m of modules) {
    const from = moduleOf(m.source);
    if (!from) continue;
    const edges = graph.get(from) ?? graph.set(from, new Set()).get(from)!;
    for (const d of m.dependencies) {
      const to = moduleOf(d.resolved);
      if (!to || to === from) continue;
      edges.add(to);
      if (!why.has(`${from}>${to}`)) why.set(`${from}>${to}`, `${m.source} → ${d.resolved}`);
    }
  }
  return { graph, why };
}

/** The strongly connected components of more than one node (Tarjan): every cycle lies within one. */
function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

describe('the module graph', () => {
  it('finds a cycle between modules that reach each other through allowed files', () => {
    const { graph } = moduleGraph([
      { source: 'src/modules/a/a.service.ts', dependencies: [{ resolved: 'src/modules/b/b.entity.ts' }] },
      { source: 'src/modules/b/b.entity.ts', dependencies: [{ resolved: 'src/modules/c/index.ts' }] },
      { source: 'src/modules/c/c.service.ts', dependencies: [{ resolved: 'src/modules/a/index.ts' }, { resolved: 'src/kernel/ids.ts' }] },
      { source: 'src/modules/d/d.service.ts', dependencies: [{ resolved: 'src/modules/a/index.ts' }] },
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c']]);
  });

  it('has no cycle between the folders of src/modules', { timeout: 120_000 }, async () => {
    const { stdout } = await promisify(execFile)('node_modules/.bin/depcruise', ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
      maxBuffer: 256 * 1024 * 1024,
    });
    const { graph, why } = moduleGraph(JSON.parse(stdout).modules);
    expect(graph.size).toBeGreaterThan(10);
    const found = cycles(graph).map((c) => ({
      modules: c,
      imports: [...why].filter(([k]) => c.includes(k.split('>')[0]) && c.includes(k.split('>')[1])).map(([, v]) => v),
    }));
    expect(found).toEqual([]);
  });
});
