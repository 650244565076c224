import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { settings } from '../src/config';
import { EventType } from '../src/modules/events/events';
import { anchorsOf, doc, DOC_FILES, DOCS_DIR, eventCatalogue, FRONT_DOOR, LINKED_GUIDES, readmeTabTitles, ROOT } from './helpers/readme';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
const everyPage = [['README.md', FRONT_DOOR] as const, ...DOC_FILES.map((f) => [`docs/${f}`, doc(f)] as const)];

describe('README', () => {
  it('starts with the two commands a new user runs', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(FRONT_DOOR)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npm ci && npm start\b/m);
    expect(firstBlock).toMatch(/^npm test\b/m);
    expect(FRONT_DOOR.indexOf(firstBlock)).toBeLessThan(FRONT_DOOR.indexOf('\n## '));
  });

  it('stays a front door: under 15 KB', () => {
    expect(Buffer.byteLength(FRONT_DOOR)).toBeLessThan(15 * 1024);
  });

  it('links every guide it names to a file and heading that exist, as does every page under docs/', () => {
    const broken: string[] = [];
    for (const [page, text] of everyPage) {
      const dir = path.dirname(path.join(ROOT, page));
      const withoutCode = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
      for (const [, target] of withoutCode.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [file, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = file ? path.resolve(dir, file) : path.join(ROOT, page);
        if (!fs.existsSync(resolved)) broken.push(`${page}: ${target} (no such file)`);
        else if (anchor && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(anchor)) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('links every guide under docs/', () => {
    expect(DOC_FILES.filter((f) => !LINKED_GUIDES.includes(f))).toEqual([]);
  });

  it('documents every environment variable the configuration reads, with the default config.ts has', () => {
    const table = new Map([...doc('configuration.md').matchAll(/^\| `([A-Z0-9_]+)` \|\s*([^|]*?)\s*\|/gm)].map((m) => [m[1]!, m[2]!]));
    expect([...table.keys()].sort()).toEqual(Object.keys(settings).sort());
    for (const [name, s] of Object.entries(settings)) {
      const fallback = 'default' in s ? s.default : '';
      if (fallback) expect(table.get(name), name).toContain(`\`${fallback}\``);
    }
  });

  it('quotes each setting at its default wherever a guide gives the value in passing, e.g. `WEBHOOK_TIMEOUT_MS` (10 s)', () => {
    const toBase: Record<string, number> = { ms: 0.001, s: 1, h: 3600, minutes: 60, MiB: 1024 * 1024 };
    const settingBase = (name: string) => (name.endsWith('_MS') ? 0.001 : name.endsWith('_MINUTES') ? 60 : 1);
    let quoted = 0;
    for (const [page, text] of everyPage) {
      for (const m of text.matchAll(/`([A-Z][A-Z0-9_]+)`\s+\((?:default )?`?(\d[\d,.]*)`?\s*(ms|s|h|minutes|MiB)?\)/g)) {
        const s = (settings as Record<string, { default?: string }>)[m[1]!];
        if (!s?.default) continue;
        quoted++;
        const said = Number(m[2]!.replace(/,/g, ''));
        // With a unit, compare in seconds or bytes; without one, the number is the setting's own.
        if (m[3]) expect(said * toBase[m[3]]!, `${page}: ${m[0]}`).toBeCloseTo(Number(s.default) * settingBase(m[1]!), 6);
        else expect(said, `${page}: ${m[0]}`).toBe(Number(s.default));
      }
    }
    expect(quoted).toBeGreaterThanOrEqual(4);
  });

  it('only shows npm scripts that exist', () => {
    for (const [page, text] of everyPage)
      for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(pkg.scripts), `${page}: npm run ${script}`).toContain(script);
  });

  it('has an event catalogue entry with a sample payload for every event type', () => {
    expect([...eventCatalogue().keys()].sort()).toEqual(Object.values(EventType).sort());
  });

  it("names GraphiQL's example tabs by the titles GraphiQL gives them, in order", () => {
    // The title rule as the GraphiQL bundle we serve has it (the first operation's name), read from
    // that bundle so an upgrade that changes it fails here.
    const bundle = fs.readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('graphiql/package.json')), 'graphiql.min.js'), 'utf8');
    const rule = /\/\^\(\?!#\)\.\*\(query\|subscription\|mutation\)\\s\+\(\[a-zA-Z0-9_\]\+\)\/m/.exec(bundle)?.[0];
    expect(rule, 'the tab title rule in graphiql.min.js').toBeDefined();
    const title = new RegExp(rule!.slice(1, -2), 'm');
    const files = fs
      .readdirSync(path.join(DOCS_DIR, 'examples'))
      .filter((f) => f.endsWith('.graphql'))
      .sort();
    const titles = files.map((f) => title.exec(fs.readFileSync(path.join(DOCS_DIR, 'examples', f), 'utf8'))?.[2] ?? '<untitled>');
    // test/api/browser.test.ts compares the same list with the titles Chromium shows.
    expect(readmeTabTitles()).toEqual(titles);
  });

  it("states the Node versions package.json, the Dockerfile and the dependencies' engines give", () => {
    const line = /^\*\*Node\.js:\*\*([\s\S]*?)\n\n/m.exec(FRONT_DOOR)?.[1]?.replace(/\s+/g, ' ') ?? '';
    const floor = /^>=(\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
    expect(floor, 'engines.node is a plain >= range').toBeDefined();
    expect(line).toContain(`\`>=${floor}\``);
    expect(line).toContain(`Node ${floor}+ is supported`);
    const image = /^FROM node:(\d+)(-[\w.-]+)?$/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    expect(line).toContain(`${image![1]} LTS is recommended (the Docker image runs \`node:${image![1]}${image![2] ?? ''}\``);
    // Each installed package whose engines the supported floor does not meet warns at `npm ci`:
    // the README names every one and the version from which none warns.
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { engines?: { node?: string } | string[] }>;
    };
    const needs = Object.entries(lock.packages)
      .filter(([at]) => at.startsWith('node_modules/'))
      .map(([at, p]) => ({
        name: at.slice(at.lastIndexOf('node_modules/') + 13),
        from: !Array.isArray(p.engines) && p.engines?.node ? lowestAtOrAbove(p.engines.node, `${floor}.0`) : null,
      }))
      .filter((n): n is { name: string; from: string } => n.from !== null);
    expect(needs.length).toBeGreaterThan(0);
    for (const n of needs) expect(line, n.name).toContain(`\`${n.name}\` (\`>=${n.from}\``);
    const newest = needs
      .map((n) => n.from)
      .sort(compareVersions)
      .at(-1)!;
    expect(line).toContain(`Node ${newest.replace(/\.0$/, '')}+ LTS runs without warnings`);
    // oidc-provider (the sandbox banks' OAuth servers) checks the runtime when it loads.
    const oidc = fs.readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('oidc-provider/package.json')), 'lib/index.js'), 'utf8');
    const oidcLts = /Unsupported runtime\. Use Node\.js v(\d+)\.x LTS/.exec(oidc)?.[1];
    expect(oidcLts, "oidc-provider's runtime check").toBeDefined();
    expect(line).toContain(`\`oidc-provider\`, logs "Unsupported runtime" at every start on a Node older than ${oidcLts} LTS`);
    expect(Number(newest.split('.')[0])).toBeGreaterThanOrEqual(Number(oidcLts));
  });
});

/** -1, 0, 1 for dotted versions. */
function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0) ? -1 : 1;
  return 0;
}

type Parts = [number | null, number | null, number | null]; // null: x, * or left out

function parts(text: string): Parts {
  const p = text.split('.').map((s) => (s === 'x' || s === '*' || s === '' ? null : Number(s)));
  return [p[0] ?? null, p[1] ?? null, p[2] ?? null];
}

const lower = (p: Parts) => p.map((n) => n ?? 0).join('.');

/** Whether `version` meets one comparator of an engines range (the forms npm packages use). */
function meets(version: string, comparator: string): boolean {
  const m = /^(>=|<=|>|<|\^|~|=)?v?((?:\d+|x|\*)(?:\.(?:\d+|x|\*)){0,2})$/.exec(comparator);
  if (!m) throw new Error(`engines comparator not understood: ${comparator}`);
  const [op, p] = [m[1] ?? '=', parts(m[2]!)];
  const v = version.split('.').map(Number);
  const c = compareVersions(version, lower(p));
  if (op === '>=') return c >= 0;
  if (op === '>') return c > 0;
  if (op === '<') return c < 0;
  if (op === '<=') return c <= 0;
  const same = (i: number) => p[i] === null || p[i] === v[i];
  if (op === '^') return c >= 0 && v[0] === p[0];
  if (op === '~') return c >= 0 && same(0) && same(1);
  return same(0) && same(1) && same(2); // a bare version or x-range
}

function satisfies(version: string, range: string): boolean {
  return range
    .replace(/([<>]=?|\^|~|=)\s+/g, '$1')
    .split('||')
    .some((alt) =>
      alt
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .every((c) => c === '*' || meets(version, c)),
    );
}

/**
 * Null when `version` satisfies the engines range; otherwise the lowest version above it that does,
 * e.g. ('>=22.15.0', '20.19.0') → '22.15.0'.
 */
function lowestAtOrAbove(range: string, version: string): string | null {
  if (satisfies(version, range)) return null;
  const candidates = [...range.matchAll(/(?:>=|\^|~|^|\|\|\s*)\s*v?(\d+(?:\.(?:\d+|x|\*)){0,2})/g)].map((m) => lower(parts(m[1]!)));
  return candidates.filter((c) => compareVersions(c, version) > 0 && satisfies(c, range)).sort(compareVersions)[0] ?? `(none: ${range})`;
}
