import { createHash, generateKeyPairSync, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BankClientConfigError } from '../errors';
import { createBankHttpClient } from './bank-http-client';
import { createQSealSigner, digestHeader, type QSealAlgorithm } from './qseal';
import { opensslAvailable, selfSigned, tempDir } from './test-certs';
import { json, startScriptedServer, type ReceivedRequest, type ScriptedServer } from './test-server';
import { standards } from '../standards';

const hasOpenssl = opensslAvailable();

let server: ScriptedServer;
beforeAll(async () => {
  server = await startScriptedServer();
});
afterAll(async () => {
  await server.close();
});

/** Parses `keyId="…",algorithm="…",headers="…",signature="…"`. */
function parseSignature(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of header.matchAll(/(\w+)="([^"]*)"/g)) out[match[1]] = match[2];
  return out;
}

/** What a bank does: rebuild the signing string from the received headers and verify it. */
function verifyAsTheBank(req: ReceivedRequest, publicKey: KeyObject, hash: 'sha256' | 'sha512'): { params: Record<string, string>; valid: boolean } {
  const params = parseSignature(String(req.headers.signature));
  const lines = params.headers
    .split(' ')
    .map((name) => (name === '(request-target)' ? `(request-target): ${req.method.toLowerCase()} ${req.url}` : `${name}: ${String(req.headers[name])}`));
  const valid = verify(hash, Buffer.from(lines.join('\n'), 'utf8'), publicKey, Buffer.from(params.signature, 'base64'));
  return { params, valid };
}

function rsaKeys(): { privateKeyPem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

describe('QSeal HTTP signatures', () => {
  const keys = rsaKeys();
  const keyId = 'SN=9FA1,CA=CN=D-TRUST%20CA%202-1%202015,O=D-Trust%20GmbH,C=DE';

  it('signs a POST: Digest matches the body and Signature verifies with the public key', async () => {
    server.received.length = 0;
    server.script(json(201, { paymentId: 'p1' }));
    const client = createBankHttpClient({
      institutionId: 'bank-qseal',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl: `${server.origin}/psd2`,
      allowInsecureRequests: true,
      signer: createQSealSigner('bank-qseal', { keyId, privateKeyPem: keys.privateKeyPem, algorithm: 'rsa-sha256' }),
    });
    const body = { instructedAmount: { currency: 'EUR', amount: '12.30' }, creditorName: 'Café Müller' };
    await client.request({
      operation: 'payment.initiate',
      method: 'POST',
      path: '/v1/payments/sepa-credit-transfers',
      query: { lang: 'fr' },
      body,
      headers: { 'PSU-ID': 'psu-42', 'TPP-Redirect-URI': 'https://gateway.example/callback' },
      schema: z.object({ paymentId: z.string() }),
    });
    const [req] = server.received;
    expect(req.headers.digest).toBe(`SHA-256=${createHash('sha256').update(req.body).digest('base64')}`);
    expect(req.body).toBe(JSON.stringify(body));
    expect(req.headers.date).toMatch(/GMT$/);
    const { params, valid } = verifyAsTheBank(req, keys.publicKey, 'sha256');
    expect(valid).toBe(true);
    expect(params.keyId).toBe(keyId);
    expect(params.algorithm).toBe('rsa-sha256');
    expect(params.headers).toBe('digest x-request-id psu-id tpp-redirect-uri date (request-target)');
    expect(req.headers['tpp-signature-certificate']).toBeUndefined();
  });

  it('signs a GET over the empty body and a bank notices a changed body', async () => {
    server.received.length = 0;
    server.script(json(200, {}));
    const client = createBankHttpClient({
      institutionId: 'bank-qseal',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl: server.origin,
      allowInsecureRequests: true,
      signer: createQSealSigner('bank-qseal', { keyId, privateKeyPem: keys.privateKeyPem, includeRequestTarget: false }),
    });
    await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: z.object({}) });
    const [req] = server.received;
    expect(req.headers.digest).toBe(digestHeader(''));
    expect(req.headers.digest).toBe('SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
    const { params, valid } = verifyAsTheBank(req, keys.publicKey, 'sha256');
    expect(valid).toBe(true);
    expect(params.headers).toBe('digest x-request-id date');
    // Another request id (or body, through the digest) no longer matches the signature.
    const forged = { ...req, headers: { ...req.headers, 'x-request-id': 'forged' } };
    expect(verifyAsTheBank(forged, keys.publicKey, 'sha256').valid).toBe(false);
  });

  it('signs every attempt afresh, keeping the X-Request-ID', async () => {
    server.received.length = 0;
    server.script(json(503, {}), json(200, {}));
    const client = createBankHttpClient({
      institutionId: 'bank-qseal',
      protocol: standards.get('BERLIN_GROUP').protocol,
      baseUrl: server.origin,
      allowInsecureRequests: true,
      sleep: async () => undefined,
      signer: createQSealSigner('bank-qseal', { keyId, privateKeyPem: keys.privateKeyPem }),
    });
    await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: z.object({}) });
    expect(server.received).toHaveLength(2);
    expect(server.received[0].headers['x-request-id']).toBe(server.received[1].headers['x-request-id']);
    for (const req of server.received) expect(verifyAsTheBank(req, keys.publicKey, 'sha256').valid).toBe(true);
  });

  it.each<[QSealAlgorithm, 'sha256' | 'sha512', 'rsa' | 'ec']>([
    ['SHA256withRSA', 'sha256', 'rsa'],
    ['rsa-sha512', 'sha512', 'rsa'],
    ['ecdsa-sha256', 'sha256', 'ec'],
  ])('signs with %s', (algorithm, hash, type) => {
    const pair =
      type === 'rsa'
        ? { privateKeyPem: keys.privateKeyPem, publicKey: keys.publicKey }
        : (() => {
            const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
            return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
          })();
    const signer = createQSealSigner('bank-qseal', { keyId: 'k1', privateKeyPem: pair.privateKeyPem, algorithm });
    const headers = new Headers({ 'X-Request-ID': 'r-1' });
    const url = new URL('https://bank.example/v1/payments?x=1');
    signer.sign({ method: 'POST', url, headers, body: '{"a":1}' });
    const req: ReceivedRequest = { method: 'POST', url: '/v1/payments?x=1', body: '{"a":1}', headers: Object.fromEntries([...headersEntries(headers)]) };
    const { params, valid } = verifyAsTheBank(req, pair.publicKey, hash);
    expect(valid).toBe(true);
    expect(params.algorithm).toBe(algorithm);
  });

  it('refuses a key that does not match the algorithm, an unreadable key and a keyId with quotes', () => {
    expect(() => createQSealSigner('b', { keyId: 'k', privateKeyPem: keys.privateKeyPem, algorithm: 'ecdsa-sha256' })).toThrow(BankClientConfigError);
    expect(() => createQSealSigner('b', { keyId: 'k', privateKeyPem: 'not a key' })).toThrow(/not a readable PEM key/);
    expect(() => createQSealSigner('b', { keyId: 'k"x', privateKeyPem: keys.privateKeyPem })).toThrow(BankClientConfigError);
  });

  describe.skipIf(!hasOpenssl)('with the QSealC configured', () => {
    it('sends the certificate base64 DER in TPP-Signature-Certificate, and it verifies the signature', async () => {
      const tmp = tempDir();
      try {
        const seal = selfSigned(tmp.dir, 'qseal', '/CN=Passerelle QSealC/O=Passerelle Test', 'ec');
        server.received.length = 0;
        server.script(json(200, {}));
        const client = createBankHttpClient({
          institutionId: 'bank-qseal',
          protocol: standards.get('BERLIN_GROUP').protocol,
          baseUrl: server.origin,
          allowInsecureRequests: true,
          signer: createQSealSigner('bank-qseal', { keyId, privateKeyPem: seal.keyPem, certificatePem: seal.certPem, algorithm: 'ecdsa-sha256' }),
        });
        await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: z.object({}) });
        const [req] = server.received;
        const cert = new X509Certificate(Buffer.from(String(req.headers['tpp-signature-certificate']), 'base64'));
        expect(cert.subject).toContain('CN=Passerelle QSealC');
        expect(verifyAsTheBank(req, cert.publicKey, 'sha256').valid).toBe(true);
      } finally {
        tmp.dispose();
      }
    });
  });
});

function headersEntries(headers: Headers): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  headers.forEach((value, name) => out.push([name, value]));
  return out;
}
