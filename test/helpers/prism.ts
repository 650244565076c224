/**
 * Stoplight Prism (`@stoplight/prism-cli`, a dev dependency): a mock server nobody here wrote,
 * driven by an official OpenAPI file. Prism validates every request and every answer against the
 * file and lists what broke it in the answer's `sl-violations` header, which the test reads: request
 * violations are the gateway's, response ones the file's own examples' (not `--errors`, which would
 * turn the file's own mistakes into 500s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { freePort } from '../../src/platform/db';

const root = path.resolve(import.meta.dirname, '../..');

/** An official file: the copy vendored in sandbox/specs when there is one, else the shared specs beside the checkout. */
export function officialSpec(file: string): string | undefined {
  return [path.join(root, 'sandbox/specs', file), path.join(root, '../shared/specs', file)].find((f) => existsSync(f));
}

export interface PrismServer {
  origin: string;
  /** Prism's output so far (for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `prism mock` (or `prism proxy <upstream>`) on 127.0.0.1. Resolves with the server, or
 * with the reason it could not start (no Prism installed, no spec file, no answer in time): the
 * caller skips loudly with that reason.
 */
export async function startPrism(options: {
  spec: string;
  mode?: { mock: { dynamic?: boolean; seed?: string } } | { proxy: string };
  timeoutMs?: number;
}): Promise<PrismServer | { unavailable: string }> {
  const spec = officialSpec(options.spec);
  if (!spec) return { unavailable: `${options.spec} is neither in sandbox/specs nor in ../shared/specs` };
  let cli: string;
  try {
    cli = path.join(path.dirname(createRequire(import.meta.url).resolve('@stoplight/prism-cli/package.json')), 'dist/index.js');
  } catch {
    return { unavailable: '@stoplight/prism-cli is not installed (npm ci installs it as a dev dependency)' };
  }
  const port = await freePort();
  const mode = options.mode ?? { mock: {} };
  const args =
    'proxy' in mode
      ? ['proxy', spec, mode.proxy]
      : ['mock', spec, ...(mode.mock.dynamic ? ['--dynamic'] : []), ...(mode.mock.seed ? ['--seed', mode.mock.seed] : [])];
  const child: ChildProcess = spawn(process.execPath, [cli, ...args, '--host', '127.0.0.1', '--port', String(port), '--verboseLevel', 'warn'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + String(d)).slice(-20_000)));
  child.stderr!.on('data', (d) => (out = (out + String(d)).slice(-20_000)));
  const origin = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return { unavailable: `prism exited with ${child.exitCode}: ${out.slice(-1000)}` };
    // Any HTTP answer (404 on /) means Prism has loaded the file and listens.
    const up = await fetch(`${origin}/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.arrayBuffer().then(() => true),
      () => false,
    );
    if (up) return { origin, output: () => out, stop };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  return { unavailable: `prism did not answer within ${options.timeoutMs ?? 90_000} ms: ${out.slice(-1000)}` };
}
