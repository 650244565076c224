import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/platform/db';
import { eventCatalogue, FRONT_DOOR } from './helpers/readme';

// The README's walkthrough, run as written: the line every terminal runs first, then the gateway
// started the way terminal 1 says (embedded, npm start), the "app" of terminal 2, then every shell
// block of terminal 3 in one bash session. The ports are free ones that are not the defaults, set
// in the environment as the README says to choose them, so a hard-coded port fails the run; the
// data directory is a temporary one (the gateway's DATA_DIR, reached as .data from where the app
// and terminal 3 run), so it can run beside other tests. No command is rewritten.
const root = path.resolve(import.meta.dirname, '..');
const section = /^## Ten minutes[^\n]*\n([\s\S]*?)(?=^## )/m.exec(FRONT_DOOR)?.[1] ?? '';
const blocks = [...section.matchAll(/^ *```sh( terminal-\d| every-terminal)?\n([\s\S]*?)^ *```/gm)].map((m) => ({
  terminal: m[1]?.trim() ?? 'terminal-3',
  // List items indent their code blocks; the shell doesn't care, but keep the text as written.
  code: m[2]!.replace(/^ {3}/gm, ''),
}));
const hasTools = ['bash', 'curl', 'jq'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);

const children: ChildProcess[] = [];
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-walkthrough-'));
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-walkthrough-cwd-'));
fs.symlinkSync(dataDir, path.join(workDir, '.data'));
afterAll(async () => {
  // Each started its own process group (npm → tsx → node): stop the whole group.
  for (const c of children.reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once('exit', r));
    process.kill(-c.pid!, 'SIGKILL');
    await gone;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(workDir, { recursive: true, force: true });
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

const DEFAULT_PORTS = { PORT: 4000, APP_PORT: 3000, EMBEDDED_PG_PORT: 54329 };

describe('the README walkthrough', () => {
  it('has the ports line, the gateway, the app and the steps as shell blocks', () => {
    expect(blocks.filter((b) => b.terminal === 'every-terminal').map((b) => b.code.trim())).toEqual([
      // eslint-disable-next-line no-template-curly-in-string -- the shell line as written, not a template
      'export PORT=${PORT:-4000} APP_PORT=${APP_PORT:-3000} EMBEDDED_PG_PORT=${EMBEDDED_PG_PORT:-54329}',
    ]);
    expect(blocks.filter((b) => b.terminal === 'terminal-1').map((b) => b.code.trim())).toEqual(['npm ci && npm start']);
    expect(blocks.filter((b) => b.terminal === 'terminal-2')).toHaveLength(1);
    expect(blocks.filter((b) => b.terminal === 'terminal-3').length).toBeGreaterThanOrEqual(6);
  });

  it('names a port only in the ports line', () => {
    const ports = new RegExp(`\\b(${Object.values(DEFAULT_PORTS).join('|')})\\b`);
    for (const b of blocks.filter((b) => b.terminal !== 'every-terminal')) expect(b.code).not.toMatch(ports);
    expect(section.replace(/```sh every-terminal[\s\S]*?```/, '')).not.toMatch(/localhost:\d/);
  });

  it('says the default history window and consent length the gateway gives (checked against its answer below)', () => {
    expect(section).toMatch(/lasts 90 days and reads the last 90 days\s+of history/);
  });

  it.skipIf(!hasTools)(
    'takes a fresh gateway on ports of your choice to a first transaction and a first verified webhook, as written',
    async () => {
      const started = Date.now();
      const ports = { PORT: await freePort(), APP_PORT: await freePort(), EMBEDDED_PG_PORT: await freePort() };
      for (const [name, port] of Object.entries(ports)) expect(port, name).not.toBe(DEFAULT_PORTS[name as keyof typeof DEFAULT_PORTS]);
      const chosen = Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)]));
      const first = blocks.find((b) => b.terminal === 'every-terminal')!.code;
      const terminal = (code: string) => `${first}\n${code}`;
      // Embedded, as `npm start` on a fresh clone: no DATABASE_URL or REDIS_URL from CI.
      const { DATABASE_URL: _d, REDIS_URL: _r, ...env } = process.env;
      // `npm ci` is what the CI run did already; the rest of terminal 1 runs as written.
      const gateway = spawn('bash', ['-c', terminal(blocks.find((b) => b.terminal === 'terminal-1')!.code.replace(/^npm ci && /, ''))], {
        cwd: root,
        env: { ...env, ...chosen, DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      children.push(gateway);
      const gatewayLog = output(gateway);
      const app = spawn('bash', ['-c', terminal(blocks.find((b) => b.terminal === 'terminal-2')!.code)], {
        cwd: workDir,
        env: { ...env, ...chosen },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      children.push(app);
      const appLog = output(app);
      await until('the gateway start', () => gatewayLog().includes('Passerelle is ready'), 90_000, gatewayLog);
      expect(gatewayLog()).toContain(`localhost:${ports.PORT}/graphql`);
      await until('the app start', () => appLog().includes(`listens on http://localhost:${ports.APP_PORT}`), 10_000, appLog);

      const script = ['set -e', first, ...blocks.filter((b) => b.terminal === 'terminal-3').map((b) => b.code)].join('\n');
      const you = spawn('bash', ['-c', script], { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...chosen }, detached: true });
      children.push(you);
      const youLog = output(you);
      const code = await new Promise<number | null>((resolve) => you.once('exit', resolve));
      expect(code, youLog()).toBe(0);
      expect(youLog()).not.toMatch(/"errors"|"code": "[A-Z_]+"/); // no GraphQL error, no userError
      expect(youLog()).toContain('"status": "ACTIVE"');
      expect(youLog()).toMatch(/"secret": "whsec_/);
      // The defaults the README states are the gateway's answer.
      const [, lasts, reads] = /lasts (\d+) days and reads the last (\d+) days/.exec(section)!;
      expect(youLog()).toContain(`"validForDays": ${lasts}`);
      expect(youLog()).toContain(`"historyDays": ${reads}`);

      await until('the webhook delivery', () => /POST \/webhooks \S+ \S+ \{/.test(appLog()), 30_000, appLog);
      const [, webhookId, check, body] = /POST \/webhooks (\S+) (\S+) (\{.*\})/.exec(appLog())!;
      expect(check, 'the app verified the signature with the secret of step 5').toBe('verified');
      const delivery = JSON.parse(body!) as {
        type: string;
        data: { id: string; resourceType: string; payload: { accountId: string; transactionIds: string[]; version: string } };
      };
      expect(delivery.type).toBe('TRANSACTIONS_ADDED');
      expect(delivery.data.id).toBe(webhookId);
      expect(delivery.data.resourceType).toBe('Account');
      expect(delivery.data.payload.transactionIds).toHaveLength(1);
      // The app's check can fail: a request signed with another key is called out.
      const forged = await fetch(`http://127.0.0.1:${ports.APP_PORT}/webhooks`, {
        method: 'POST',
        headers: { 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,bm90IHRoZSBzaWduYXR1cmU=' },
        body,
      });
      expect(forged.status).toBe(200);
      await until('the forged request', () => /POST \/webhooks msg_forged FORGED /.test(appLog()), 5_000, appLog);
      // The feed, read from the cursor kept in step 4, hands over exactly the new transaction.
      const feed = JSON.parse(youLog().slice(youLog().lastIndexOf('{\n  "data": {\n    "transactionsSync"'))) as {
        data: { transactionsSync: { added: { description: string }[]; modified: unknown[]; removed: unknown[] } };
      };
      expect(feed.data.transactionsSync.added.map((t) => t.description)).toEqual(['Café Lumière']);
      expect(feed.data.transactionsSync.modified).toEqual([]);
      // What the journey wrote to the log has the payloads the event catalogue shows.
      const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
      const res = await fetch(`http://127.0.0.1:${ports.PORT}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ events(first: 500) { nodes { type payload } } }' }),
      });
      const events = ((await res.json()) as { data: { events: { nodes: { type: string; payload: Record<string, unknown> }[] } } }).data.events.nodes;
      const catalogue = eventCatalogue();
      expect(new Set(events.map((e) => e.type))).toEqual(new Set(['CONSENT_ACTIVATED', 'ACCOUNT_DISCOVERED', 'TRANSACTIONS_ADDED', 'BALANCE_UPDATED']));
      for (const e of events) expect(Object.keys(e.payload).sort(), e.type).toEqual(Object.keys(catalogue.get(e.type)!).sort());
      console.info(`README walkthrough: ${((Date.now() - started) / 1000).toFixed(1)} s from npm start to the verified webhook`);
    },
    180_000,
  );
});
