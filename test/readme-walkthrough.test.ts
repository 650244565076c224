import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/platform/db';
import { eventCatalogue, README } from './helpers/readme';

// The README's walkthrough, run as written: the gateway started the way its first block says
// (embedded, npm start), the "app" of terminal 2, then every shell block of terminal 3 in one bash
// session. Only the ports and the data directory differ, so it can run beside other tests.
const root = path.resolve(import.meta.dirname, '..');
const section = /^## Ten minutes[^\n]*\n([\s\S]*?)(?=^## )/m.exec(README)?.[1] ?? '';
const blocks = [...section.matchAll(/^ *```sh( terminal-\d)?\n([\s\S]*?)^ *```/gm)].map((m) => ({
  terminal: m[1]?.trim() ?? 'terminal-3',
  // List items indent their code blocks; the shell doesn't care, but keep the text as written.
  code: m[2]!.replace(/^ {3}/gm, ''),
}));
const hasTools = ['bash', 'curl', 'jq'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);

const children: ChildProcess[] = [];
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-walkthrough-'));
afterAll(async () => {
  // Each started its own process group (npm → tsx → node): stop the whole group.
  for (const c of children.reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('exit', r));
    process.kill(-c.pid!, 'SIGKILL');
    await gone;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function output(p: ChildProcess): () => string {
  let out = '';
  p.stdout!.on('data', (d) => (out += String(d)));
  p.stderr!.on('data', (d) => (out += String(d)));
  return () => out;
}

async function until(what: string, cond: () => boolean, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen in ${timeoutMs} ms:\n${log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the README walkthrough', () => {
  it('has the gateway, the app and the steps as shell blocks', () => {
    expect(blocks.filter((b) => b.terminal === 'terminal-1').map((b) => b.code.trim())).toEqual(['npm ci && npm start']);
    expect(blocks.filter((b) => b.terminal === 'terminal-2')).toHaveLength(1);
    expect(blocks.filter((b) => b.terminal === 'terminal-3').length).toBeGreaterThanOrEqual(6);
  });

  it.skipIf(!hasTools)('takes a fresh gateway to a first transaction and a first signed webhook, as written', async () => {
    const started = Date.now();
    const [gatewayPort, appPort, pgPort] = [await freePort(), await freePort(), await freePort()];
    const local = (code: string) =>
      code.replaceAll('localhost:4000', `localhost:${gatewayPort}`).replaceAll('localhost:3000', `localhost:${appPort}`).replaceAll('listen(3000', `listen(${appPort}`).replaceAll('.data/', `${dataDir}/`);
    // Embedded, as `npm start` on a fresh clone: no DATABASE_URL or REDIS_URL from CI.
    const { DATABASE_URL: _d, REDIS_URL: _r, ...env } = process.env;
    // `npm ci` is what the CI run did already; the rest of terminal 1 runs as written.
    const gateway = spawn('sh', ['-c', local(blocks.find((b) => b.terminal === 'terminal-1')!.code).replace(/^npm ci && /, '')], {
      cwd: root,
      env: { ...env, PORT: String(gatewayPort), EMBEDDED_PG_PORT: String(pgPort), DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(gateway);
    const gatewayLog = output(gateway);
    const app = spawn('bash', ['-c', local(blocks.find((b) => b.terminal === 'terminal-2')!.code)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.push(app);
    const appLog = output(app);
    await until('the gateway start', () => gatewayLog().includes('Passerelle is ready'), 90_000, gatewayLog);
    await until('the app start', () => appLog().includes('listens on'), 10_000, appLog);

    const script = ['set -e', ...blocks.filter((b) => b.terminal === 'terminal-3').map((b) => local(b.code))].join('\n');
    const you = spawn('bash', ['-c', script], { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
    children.push(you);
    const youLog = output(you);
    const code = await new Promise<number | null>((resolve) => you.once('exit', resolve));
    expect(code, youLog()).toBe(0);
    expect(youLog()).not.toMatch(/"errors"|"code": "[A-Z_]+"/); // no GraphQL error, no userError
    expect(youLog()).toContain('"status": "ACTIVE"');
    expect(youLog()).toMatch(/"secret": "whsec_/);

    await until('the webhook delivery', () => /POST \/webhooks \S+ \{/.test(appLog()), 30_000, appLog);
    const [, webhookId, body] = /POST \/webhooks (\S+) (\{.*\})/.exec(appLog())!;
    const delivery = JSON.parse(body!) as { type: string; data: { id: string; resourceType: string; payload: { accountId: string; transactionIds: string[]; version: string } } };
    expect(delivery.type).toBe('TRANSACTIONS_ADDED');
    expect(delivery.data.id).toBe(webhookId);
    expect(delivery.data.resourceType).toBe('Account');
    expect(delivery.data.payload.transactionIds).toHaveLength(1);
    // The feed, read from the cursor kept in step 4, hands over exactly the new transaction.
    const feed = JSON.parse(youLog().slice(youLog().lastIndexOf('{\n  "data": {\n    "transactionsSync"'))) as { data: { transactionsSync: { added: { description: string }[]; modified: unknown[]; removed: unknown[] } } };
    expect(feed.data.transactionsSync.added.map((t) => t.description)).toEqual(['Café Lumière']);
    expect(feed.data.transactionsSync.modified).toEqual([]);
    // What the journey wrote to the log has the payloads the README's catalogue shows.
    const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${gatewayPort}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ events(first: 500) { nodes { type payload } } }' }),
    });
    const events = ((await res.json()) as { data: { events: { nodes: { type: string; payload: Record<string, unknown> }[] } } }).data.events.nodes;
    const catalogue = eventCatalogue();
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['CONSENT_ACTIVATED', 'ACCOUNT_DISCOVERED', 'TRANSACTIONS_ADDED', 'BALANCE_UPDATED']));
    for (const e of events) expect(Object.keys(e.payload).sort(), e.type).toEqual(Object.keys(catalogue.get(e.type)!).sort());
    console.info(`README walkthrough: ${((Date.now() - started) / 1000).toFixed(1)} s from npm start to the webhook`);
  }, 180_000);
});
