import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import express from 'express';
import { pino } from 'pino';
import { createSandbox, TEST_USERS } from './index';

/**
 * Standalone sandbox: `npm run sandbox -- --port 4010 [--host 127.0.0.1] [--public-url URL]
 * [--admin-token TOKEN] [--seed N]`. Prints the banks, their OAuth clients and the admin token.
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    host: { type: 'string', default: '127.0.0.1' },
    'public-url': { type: 'string' },
    'mount-path': { type: 'string', default: '/sandbox' },
    'admin-token': { type: 'string' },
    seed: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'info' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port must be a port number, got ${values.port}`);
const seed = Number(values.seed);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
const adminToken = values['admin-token'] ?? randomBytes(24).toString('base64url');
const logger = pino({ level: values['log-level'] });
const app = express();
const server = app.listen(port, values.host, () => {
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const publicUrl = values['public-url'] ?? `http://${values.host}:${actualPort}`;
  const sandbox = createSandbox({ publicUrl, mountPath: values['mount-path'], adminToken, seed, logger });
  app.use(values['mount-path']!, sandbox.router);
  const lines = [
    `Passerelle sandbox banks on ${publicUrl}${values['mount-path']}`,
    `Control API: ${publicUrl}${values['mount-path']}/control  (Authorization: Bearer ${adminToken})`,
    '',
    ...sandbox.banks.flatMap((b) => [
      `${b.name} [${b.id}] ${b.standard} ${b.standardVersion} ${b.country}`,
      `  API:    ${b.aisBaseUrl}`,
      `  Issuer: ${b.issuer}`,
      `  Client: ${sandbox.clients[b.id].clientId} / ${sandbox.clients[b.id].clientSecret}`,
    ]),
    '',
    'Test users (password / one-time code):',
    ...TEST_USERS.map((u) => `  ${u.username.padEnd(15)} ${u.password || '(any: refused)'} / ${u.otp}  ${u.description}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const shutdown = () => {
    void sandbox.close().then(() => server.close(() => process.exit(0)));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
});
