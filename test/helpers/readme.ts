import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DOCS_DIR = path.join(ROOT, 'docs');

/** README.md alone: the front door (what Passerelle is, the two commands, the walkthrough, where to go next). */
export const FRONT_DOOR = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** One guide under docs/, e.g. `doc('events-and-webhooks.md')`. */
export function doc(name: string): string {
  return fs.readFileSync(path.join(DOCS_DIR, name), 'utf8');
}

/** Every markdown file under docs/ (the guides the README links and the longer pages), by name. */
export const DOC_FILES = fs
  .readdirSync(DOCS_DIR)
  .filter((f) => f.endsWith('.md'))
  .sort();

/** The guides that were sections of README.md until issue 17 (the tests that checked them there check them here). */
export const MOVED_GUIDES = [
  'sandbox.md',
  'configuration.md',
  'architecture.md',
  'connecting.md',
  'account-data.md',
  'payments.md',
  'events-and-webhooks.md',
  'vault.md',
  'api.md',
  'postman.md',
  'metrics.md',
  'production-stack.md',
  'real-banks.md',
  'measurements.md',
  'tests.md',
];

/** The docs/ guides README.md links to, in the order it links them (each once). */
export const LINKED_GUIDES = [...new Set([...FRONT_DOOR.matchAll(/\]\(docs\/([\w.-]+\.md)(?:#[^)]*)?\)/g)].map((m) => m[1]!))];

/**
 * The README and the guides it links, as one text: what README.md alone held before the guides
 * moved to docs/. For checks that only care that a reader finds something (src/banking/quirks.test.ts
 * reads its "### 3a." section, now in docs/real-banks.md); a check about one place reads that file.
 */
export const README = [FRONT_DOOR, ...LINKED_GUIDES.map(doc)].join('\n');

/** The GraphiQL tab titles the README lists after the walkthrough ("… named after its first operation: A, B and C."). */
export function readmeTabTitles(): string[] {
  return /named after its first operation: ([\w ,]+?)\. /.exec(FRONT_DOOR.replace(/\s+/g, ' '))?.[1]?.split(/, | and /) ?? [];
}

/** The event catalogue (docs/events-and-webhooks.md): each type's sample payload as the table shows it. */
export function eventCatalogue(text = doc('events-and-webhooks.md')): Map<string, Record<string, unknown>> {
  const section = /^### Event catalogue\n([\s\S]*?)(?=^#)/m.exec(text)?.[1] ?? '';
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \|.*\| `(\{.*\})` \|$/gm)];
  return new Map(rows.map((m) => [m[1]!, JSON.parse(m[2]!) as Record<string, unknown>]));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers: its headings outside code blocks (repeats get -1, -2, as on GitHub). */
export function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fence = !fence;
    const h = !fence && /^#{1,6} (.*)$/.exec(line);
    if (!h) continue;
    const base = headingAnchor(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n ? `${base}-${n}` : base);
  }
  return anchors;
}
