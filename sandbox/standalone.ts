import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import express from 'express';
import { pino } from 'pino';
import { createSandbox, TEST_USERS, type Sandbox } from './index';

export interface Standalone {
  /** The public URL (`--public-url`, else the listen address). */
  url: string;
  /** Where the server listens, reachable from this machine whatever the public URL says. */
  listenUrl: string;
  adminToken: string;
  sandbox: Sandbox;
  close(): Promise<void>;
}

/**
 * Runs the sandbox on its own HTTP server from command-line arguments:
 * `--port 4010 --host 127.0.0.1 --public-url URL --mount-path /sandbox --admin-token T --seed 1 --log-level info --partitions 16`.
 * Writes the banks, OAuth clients, admin token and test users through `print`.
 */
export async function startStandalone(argv: string[], print: (text: string) => void): Promise<Standalone> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      'public-url': { type: 'string' },
      'mount-path': { type: 'string', default: '/sandbox' },
      'admin-token': { type: 'string' },
      seed: { type: 'string', default: '1' },
      'log-level': { type: 'string', default: 'info' },
      partitions: { type: 'string', default: '16' },
    },
  });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port!) || port > 65_535) throw new Error(`--port must be a port number, got ${values.port}`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  const maxPartitions = Number(values.partitions);
  if (!/^\d+$/.test(values.partitions!) || maxPartitions < 1) throw new Error(`--partitions must be a positive integer, got ${values.partitions}`);
  const mountPath = values['mount-path']!;
  const adminToken = values['admin-token'] ?? randomBytes(24).toString('base64url');
  const logger = pino({ level: values['log-level'] });
  const app = express();
  const server = await new Promise<import('node:http').Server>((resolve, reject) => {
    const s = app.listen(port, values.host!, () => resolve(s));
    s.once('error', reject);
  });
  const actualPort = (server.address() as AddressInfo).port;
  const publicUrl = (values['public-url'] ?? `http://${values.host}:${actualPort}`).replace(/\/+$/, '');
  // Headless SCA calls this server at its listen address, whatever name the public URL uses.
  const selfUrl = `http://${values.host === '0.0.0.0' ? '127.0.0.1' : values.host === '::' ? '[::1]' : values.host!.includes(':') ? `[${values.host}]` : values.host}:${actualPort}`;
  const sandbox = createSandbox({ publicUrl, selfUrl, mountPath, adminToken, seed, logger, maxPartitions });
  app.use(mountPath, sandbox.router);
  // The banner says the banks answer: build them before printing it, not on the first request.
  await sandbox.ready();
  const lines = [
    `Passerelle sandbox banks on ${publicUrl}${mountPath}`,
    `Control API: ${publicUrl}${mountPath}/control  (Authorization: Bearer ${adminToken})`,
    '',
    ...sandbox.banks.flatMap((b) => [
      `${b.name} [${b.id}] ${b.standard} ${b.standardVersion} ${b.country}`,
      `  API:    ${b.aisBaseUrl}`,
      `  Issuer: ${b.issuer}`,
      `  Client: ${sandbox.clients[b.id].clientId} / ${sandbox.clients[b.id].clientSecret}`,
    ]),
    '',
    'Test users (password / one-time code):',
    ...TEST_USERS.map((u) => `  ${u.username.padEnd(15)} ${u.password || '(refused)'} / ${u.otp}  ${u.description}`),
  ];
  print(`${lines.join('\n')}\n`);
  return {
    url: publicUrl,
    listenUrl: selfUrl,
    adminToken,
    sandbox,
    async close() {
      await sandbox.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
