import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { settings } from '../src/config';
import { EventType } from '../src/modules/events/events';
import { eventCatalogue, README } from './helpers/readme';

const root = path.resolve(import.meta.dirname, '..');
const readme = README;
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('README', () => {
  it('starts with the two commands a new user runs', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npm ci && npm start\b/m);
    expect(firstBlock).toMatch(/^npm test\b/m);
  });

  it('documents every environment variable the configuration reads', () => {
    for (const name of Object.keys(settings)) expect(readme, name).toContain(`\`${name}\``);
  });

  it('only shows npm scripts that exist', () => {
    for (const [, script] of readme.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(pkg.scripts), script).toContain(script);
  });

  it('has an event catalogue entry with a sample payload for every event type', () => {
    expect([...eventCatalogue(readme).keys()].sort()).toEqual(Object.values(EventType).sort());
  });
});
