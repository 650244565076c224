import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** Starts `src/main.ts` as its own process (Node itself, not the tsx wrapper, so SIGKILL leaves nothing behind) and waits until it is ready. */
export async function startGatewayProcess(env: Record<string, string>): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += String(d)));
  p.stderr!.on('data', (d) => (out += String(d)));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Passerelle is ready')) {
    if (p.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return p;
}

/** SIGKILL, and wait until the process is gone. */
export async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
}

/** GraphQL over HTTP to a gateway process, with the demo key it wrote to its data directory. */
export async function gqlWithDemoKey<T>(baseUrl: string, dataDir: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const key = fs.readFileSync(path.join(dataDir, 'demo-api-key'), 'utf8').trim();
  const res = await fetch(`${baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
