import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BankOAuth, type OAuthCallEvent } from './bank-oauth';
import { DiscoveryCache } from './discovery-cache';
import { OAuthError, OAuthErrorCode } from './oauth.errors';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Pki {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  strangerCertPem: string;
  strangerKeyPem: string;
}

/** A throw-away CA, a server certificate for 127.0.0.1 and two client certificates (one from another CA). */
function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-mtls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=Passerelle Test CA', '-days', '2');
    ssl('req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-subj', '/CN=Someone Else CA', '-days', '2');
    fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
    fs.writeFileSync(path.join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
    const issue = (name: string, cn: string, ca: string, ext: string) => {
      ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        ext,
      );
    };
    issue('server', '127.0.0.1', 'ca', 'server.ext');
    issue('client', 'passerelle-tpp', 'ca', 'client.ext');
    issue('stranger', 'passerelle-tpp', 'other-ca', 'client.ext');
    const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
    return {
      caPem: read('ca.crt'),
      serverCertPem: read('server.crt'),
      serverKeyPem: read('server.key'),
      clientCertPem: read('client.crt'),
      clientKeyPem: read('client.key'),
      strangerCertPem: read('stranger.crt'),
      strangerKeyPem: read('stranger.key'),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!hasOpenssl)(`BankOAuth over mutual TLS${hasOpenssl ? '' : ' (SKIPPED: needs the openssl command)'}`, () => {
  let pki: Pki;
  let server: https.Server;
  let issuer: string;
  const tokenRequests: { clientId: string | null; subject: string | undefined }[] = [];

  beforeAll(async () => {
    pki = makePki();
    // A bank's authorisation server that only talks to clients holding a certificate from its CA.
    server = https.createServer({ cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'GET' && req.url === '/oauth/.well-known/openid-configuration') {
        return json(200, {
          issuer,
          authorization_endpoint: `${issuer}/auth`,
          token_endpoint: `${issuer}/token`,
          pushed_authorization_request_endpoint: `${issuer}/par`,
          token_endpoint_auth_methods_supported: ['tls_client_auth'],
          tls_client_certificate_bound_access_tokens: true,
          code_challenge_methods_supported: ['S256'],
        });
      }
      if (req.method === 'POST' && (req.url === '/oauth/token' || req.url === '/oauth/par')) {
        let raw = '';
        req.on('data', (c: Buffer) => (raw += c.toString()));
        req.on('end', () => {
          const body = new URLSearchParams(raw);
          const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN;
          const subject = Array.isArray(cn) ? cn[0] : cn;
          if (req.url === '/oauth/par') return json(201, { request_uri: 'urn:ietf:params:oauth:request_uri:mtls-test', expires_in: 60 });
          tokenRequests.push({ clientId: body.get('client_id'), subject });
          if (body.get('grant_type') !== 'client_credentials' || subject !== 'passerelle-tpp') return json(401, { error: 'invalid_client' });
          return json(200, { access_token: 'mtls-bound-access-token', token_type: 'Bearer', expires_in: 300, scope: body.get('scope') ?? '' });
        });
        return undefined;
      }
      return json(404, { error: 'not_found' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}/oauth`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const base = () => ({
    institutionId: 'mtls-bank',
    issuer,
    clientId: 'passerelle-tpp',
    redirectUri: 'https://gateway.invalid/callback',
    sandbox: false,
    discoveryCache: new DiscoveryCache(),
  });

  it('discovers and gets a client-credentials token with tls_client_auth, over https only, presenting the client certificate', async () => {
    const events: OAuthCallEvent[] = [];
    const oauth = await BankOAuth.discover({
      ...base(),
      mtls: { certPem: pki.clientCertPem, keyPem: pki.clientKeyPem, caPem: pki.caPem },
      onCall: (e) => events.push(e),
    });
    const tokens = await oauth.clientCredentials(['accounts']);
    expect(tokens).toMatchObject({ accessToken: 'mtls-bound-access-token', tokenType: 'Bearer', scope: 'accounts' });
    expect(tokenRequests.at(-1)).toEqual({ clientId: 'passerelle-tpp', subject: 'passerelle-tpp' });
    expect(events.map((e) => `${e.operation} ${e.method} ${e.status}`)).toEqual(['discovery GET 200', 'client_credentials POST 200']);
    const start = await oauth.startAuthorization({ scope: 'accounts' });
    expect(new URL(start.url).searchParams.get('request_uri')).toBe('urn:ietf:params:oauth:request_uri:mtls-test');
    oauth.close();
  });

  it('fails discovery when the bank does not accept the certificate, or when its server certificate is not trusted', async () => {
    // TLS 1.3: the bank refuses the certificate after the handshake, so the client sees a reset.
    const stranger = await BankOAuth.discover({ ...base(), mtls: { certPem: pki.strangerCertPem, keyPem: pki.strangerKeyPem, caPem: pki.caPem } }).catch(
      (e: unknown) => e,
    );
    expect(stranger).toBeInstanceOf(OAuthError);
    expect((stranger as OAuthError).code).toBe(OAuthErrorCode.DISCOVERY_FAILED);
    const untrusted = await BankOAuth.discover({ ...base(), mtls: { certPem: pki.clientCertPem, keyPem: pki.clientKeyPem } }).catch((e: unknown) => e);
    expect((untrusted as OAuthError).code).toBe(OAuthErrorCode.DISCOVERY_FAILED);
    expect((untrusted as OAuthError).message).toMatch(/certificate/);
    expect((untrusted as OAuthError).retryable).toBe(false);
  });
});
