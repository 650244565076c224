import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { buildApiSchema } from '../src/api/schema';
import { EXAMPLES_DIR, loadExampleTabs } from '../src/api/graphiql';
import { doc, FRONT_DOOR, MOVED_GUIDES } from './helpers/readme';

// The example operations open as GraphiQL's tabs and the README walks through them: a schema
// change that breaks one must fail here, not in front of a new user.
const schema = await buildApiSchema();

describe('the example operations (GraphiQL tabs)', () => {
  const tabs = loadExampleTabs();

  it('are read from docs/examples in file-name order, one tab per .graphql file', () => {
    const files = fs
      .readdirSync(EXAMPLES_DIR)
      .filter((f) => f.endsWith('.graphql'))
      .sort();
    expect(tabs).toHaveLength(files.length);
    expect(files.length).toBeGreaterThanOrEqual(5);
    expect(tabs[0]!.query).toContain('mutation CreateConsent');
  });

  it.each(loadExampleTabs().map((t, i) => [i + 1, t] as const))('tab %i is valid against the current schema and names every operation', (_n, tab) => {
    const doc = parse(tab.query);
    expect(validate(schema, doc).map((e) => e.message)).toEqual([]);
    for (const op of doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)) expect(op.name?.value).toBeTruthy();
  });

  it.each(loadExampleTabs().map((t, i) => [i + 1, t] as const))('tab %i gives a value or a paste hint for every variable its operations declare', (_n, tab) => {
    const variables = (tab.variables ? JSON.parse(tab.variables) : {}) as Record<string, unknown>;
    const declared = new Set([...tab.query.matchAll(/\$(\w+):/g)].map((m) => m[1]!));
    for (const name of declared) expect(Object.keys(variables), name).toContain(name);
  });

  it('finds no examples where there is no directory (a trimmed image) rather than failing', () => {
    expect(loadExampleTabs(path.join(EXAMPLES_DIR, 'missing'))).toEqual([]);
  });
});

describe('the GraphQL shown in the README and the guides that came out of it', () => {
  const pages = [['README.md', FRONT_DOOR] as const, ...MOVED_GUIDES.map((f) => [`docs/${f}`, doc(f)] as const)];
  const blocks = pages.flatMap(([page, text]) => [...text.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m, i) => [`${page} block ${i + 1}`, m[1]!] as const));

  it("finds the guides' GraphQL blocks", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(7);
  });

  it.each(blocks)('%s is valid against the current schema', (_where, block) => {
    expect(validate(schema, parse(block)).map((e) => e.message)).toEqual([]);
  });
});
