import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BankClientConfigError, BankResponseInvalid, BankUnavailable } from '../errors';
import { createBankHttpClient } from './bank-http-client';
import { createTestPki, opensslAvailable, type TestPki } from './test-certs';
import { standards } from '../standards';

const hasOpenssl = opensslAvailable();
if (!hasOpenssl) {
  process.stdout.write('\n  mTLS tests SKIPPED: no `openssl` on PATH to issue the throwaway CA and client certificate\n\n');
}

const whoami = z.object({ cn: z.string(), authorized: z.boolean() });

describe.skipIf(!hasOpenssl)('mTLS with a QWAC client certificate', () => {
  let pki: TestPki;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    pki = createTestPki();
    server = createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ cn: String(peer.subject?.CN ?? ''), authorized: socket.authorized }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/psd2`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    pki?.dispose();
  });

  it('presents the client certificate and the bank accepts it', async () => {
    const client = createBankHttpClient({
      institutionId: 'bank-mtls',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl,
      mtls: { certPem: pki.clientCertPem, keyPem: pki.clientKeyPem, caPem: pki.caPem },
    });
    try {
      const res = await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: whoami });
      expect(res.data).toEqual({ cn: 'Passerelle TPP QWAC', authorized: true });
      // Keep-alive: a second call reuses the agent.
      const again = await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: whoami });
      expect(again.data.authorized).toBe(true);
    } finally {
      client.close();
    }
  });

  it('refuses an answer larger than maxResponseBytes with BankResponseInvalid', async () => {
    const client = createBankHttpClient({
      institutionId: 'bank-mtls',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl,
      maxResponseBytes: 10,
      mtls: { certPem: pki.clientCertPem, keyPem: pki.clientKeyPem, caPem: pki.caPem },
    });
    try {
      const err = await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: whoami }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BankResponseInvalid);
      expect((err as BankResponseInvalid).message).toContain('larger than 10 bytes');
    } finally {
      client.close();
    }
  });

  it('fails with BankUnavailable when the bank refuses a certificate it does not trust', async () => {
    const client = createBankHttpClient({
      institutionId: 'bank-mtls',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl,
      maxRetries: 0,
      mtls: { certPem: pki.strangerCertPem, keyPem: pki.strangerKeyPem, caPem: pki.caPem },
    });
    try {
      await expect(client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: whoami })).rejects.toBeInstanceOf(BankUnavailable);
    } finally {
      client.close();
    }
  });

  it('verifies the bank: a server certificate from an unknown CA is refused', async () => {
    const client = createBankHttpClient({
      institutionId: 'bank-mtls',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl,
      maxRetries: 0,
      mtls: { certPem: pki.clientCertPem, keyPem: pki.clientKeyPem },
    });
    try {
      await expect(client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: whoami })).rejects.toBeInstanceOf(BankUnavailable);
    } finally {
      client.close();
    }
  });

  it.each([
    ['gets no answer', (): void => undefined],
    [
      'gets a body that stalls',
      (_req: unknown, res: import('node:http').ServerResponse): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"cn":');
      },
    ],
  ])('times out through the mTLS transport when it %s', async (_label, handler) => {
    const slow = createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: true }, handler);
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const client = createBankHttpClient({
      institutionId: 'bank-mtls',
      protocol: standards.get('STET').protocol,
      baseUrl: `https://127.0.0.1:${(slow.address() as AddressInfo).port}`,
      timeoutMs: 500,
      maxRetries: 0,
      mtls: { certPem: pki.clientCertPem, keyPem: pki.clientKeyPem, caPem: pki.caPem },
    });
    try {
      const err = await client.request({ operation: 'accounts.list', method: 'GET', path: '/accounts', schema: whoami }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BankUnavailable);
      expect((err as BankUnavailable).timedOut).toBe(true);
    } finally {
      client.close();
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});

describe('mTLS settings', () => {
  it('are refused with a plain http base URL or together with a custom fetch', () => {
    const mtls = { certPem: 'x', keyPem: 'y' };
    expect(() =>
      createBankHttpClient({ institutionId: 'b', protocol: standards.get('STET').protocol, baseUrl: 'http://127.0.0.1:1', allowInsecureRequests: true, mtls }),
    ).toThrow(BankClientConfigError);
    expect(() =>
      createBankHttpClient({ institutionId: 'b', protocol: standards.get('STET').protocol, baseUrl: 'https://bank.example', mtls, fetch: globalThis.fetch }),
    ).toThrow(/either mtls or fetch/);
  });
});
