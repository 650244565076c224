/**
 * A live bank, as the operator configures one: an institutions file entry whose credentials are
 * files (client secret, QWAC, QSeal), a gateway in `PASSERELLE_ENV=live`, and a bank reachable only
 * over HTTPS with the QWAC as client certificate. The bank is the sandbox's Nordlicht (Berlin
 * Group) behind a local TLS proxy that refuses any connection without a certificate of our CA and
 * records every request it forwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, verify, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { startSandbox, type Running } from '../../sandbox/testing/harness';
import { credentialProblems, credentialsEntry } from '../../src/banking/credentials';
import { institutionFileEntry, loadLiveInstitutions } from '../../src/banking/registry';
import { createTestPki, opensslAvailable, selfSigned, type TestPki } from '../../src/banking/http/test-certs';
import { loadConfig } from '../../src/config';
import { startGateway } from '../../src/gateway';
import { createLogger } from '../../src/platform/logger';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountsOf, institutionGid, settled } from '../helpers/banking';
import { findSecretsInDatabase } from '../helpers/secret-scan';
import { asSystem } from '../../src/platform/tenant-scope';

const BANK = 'nordlicht';
const LIVE_ID = 'nordlicht-live';
const APP_RETURN = 'https://app.example.com/bank-return';
const credentials = (e: Record<string, unknown>) => e.credentials as Record<string, unknown>;

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** SHA-256 fingerprint of the client certificate the TLS handshake presented. */
  clientCert: string | undefined;
  status?: number;
}

/** An HTTPS reverse proxy that requires a client certificate issued by `pki`'s CA, forwarding to `target()`. */
async function startMtlsProxy(pki: TestPki, target: () => string): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = https.createServer(
    { key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const entry: Seen = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: body.toString('utf8'),
          clientCert: peer?.fingerprint256,
        };
        seen.push(entry);
        const to = new URL(target());
        const upstream = http.request(
          { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-proto': 'https' } },
          (answer) => {
            entry.status = answer.statusCode;
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.writeHead(502).end());
        upstream.end(body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The `Signature` header's parameters. */
function signatureParams(header: string): Record<string, string> {
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

const describeWithOpenssl = opensslAvailable() ? describe : describe.skip;
if (!opensslAvailable()) console.warn('live-bank.test.ts skipped: no openssl on PATH to issue the test certificates');

describeWithOpenssl('a live Berlin Group bank reached with the operator QWAC, QSeal and client secret', () => {
  let pki: TestPki;
  let dir: string;
  let qsealCertPem: string;
  let qsealKeyPem: string;
  let sandbox: Running;
  let proxy: Awaited<ReturnType<typeof startMtlsProxy>>;
  let t: TestGateway;
  let key: string;
  let clientSecret: string;
  let entry: Record<string, unknown>;

  /** Writes an institutions file with one entry (the working one, changed by `change`) and returns its path. */
  const writeFile = (name: string, change: (e: Record<string, unknown>) => Record<string, unknown> = (e) => e): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify({ institutions: [change(structuredClone(entry))] }, null, 2));
    return file;
  };

  beforeAll(async () => {
    pki = createTestPki();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-live-bank-'));
    fs.mkdirSync(path.join(dir, 'secrets'), { mode: 0o700 });
    ({ certPem: qsealCertPem, keyPem: qsealKeyPem } = selfSigned(path.join(dir, 'secrets'), 'qseal', '/CN=Passerelle QSeal/O=Passerelle Test', 'ec'));

    let sandboxUrl = '';
    proxy = await startMtlsProxy(pki, () => sandboxUrl);
    sandbox = await startSandbox({ publicUrl: proxy.url, now: new Date() });
    sandboxUrl = sandbox.url;
    const bank = sandbox.bank(BANK);
    clientSecret = sandbox.sandbox.clients[BANK]!.clientSecret;

    const secrets = path.join(dir, 'secrets');
    fs.writeFileSync(path.join(secrets, 'client-secret'), `${clientSecret}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, 'qwac.pem'), pki.clientCertPem);
    fs.writeFileSync(path.join(secrets, 'qwac.key'), pki.clientKeyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, 'bank-ca.pem'), pki.caPem);
    const qsealCert = new X509Certificate(qsealCertPem);
    entry = {
      id: LIVE_ID,
      name: 'Nordlicht Bank (live)',
      bic: bank.bic,
      country: bank.country,
      standard: 'BERLIN_GROUP',
      standardVersion: bank.standardVersion,
      aisBaseUrl: bank.aisBaseUrl,
      pisBaseUrl: bank.pisBaseUrl,
      issuer: bank.issuer,
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      paymentSchemes: ['SEPA_CREDIT_TRANSFER'],
      // OAuth SCA: the code exchange goes to the bank's token endpoint, through the proxy too.
      scaApproaches: ['OAUTH'],
      maxConsentDays: 90,
      maxHistoryDays: 730,
      frequencyPerDay: 4,
      credentials: {
        clientId: sandbox.sandbox.clients[BANK]!.clientId,
        tokenEndpointAuthMethod: 'client_secret_basic',
        // Relative paths: from the institutions file's directory.
        clientSecretFile: 'secrets/client-secret',
        qwac: { certFile: 'secrets/qwac.pem', keyFile: 'secrets/qwac.key', caFile: 'secrets/bank-ca.pem' },
        qseal: {
          keyFile: 'secrets/qseal.key',
          certFile: 'secrets/qseal.pem',
          keyId: `SN=${qsealCert.serialNumber},CA=CN=Passerelle QSeal`,
          algorithm: 'ecdsa-sha256',
        },
      },
    };

    t = await startTestGateway({
      env: {
        PASSERELLE_ENV: 'live',
        ALLOW_LOCAL_KMS_IN_LIVE: 'true',
        INSTITUTIONS_FILE: writeFile('institutions.json'),
        // Sent as PSU-IP-Address on consent creation, which the Berlin Group file requires (no end user's address there).
        TPP_IP_ADDRESS: '192.0.2.44',
        // The callback registered at the bank is PUBLIC_URL/callback; the sandbox registers its own public URL's.
        PUBLIC_URL: proxy.url,
      },
    });
    ({ key } = await t.createTenant('Live fintech', 'live'));
    await t.gql(`mutation { redirectUriAdd(input: { uri: "${APP_RETURN}" }) { userErrors { code } } }`, {}, key);
  });

  afterAll(async () => {
    await t?.close();
    await sandbox?.close();
    await proxy?.close();
    pki?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('connects an account through the QWAC-only bank: consent, SCA, token exchange and a first sync, every call with the client certificate and every API call sealed', async () => {
    const user = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
      'mutation { endUserCreate(input: { externalRef: "live-1" }) { endUser { id } } }',
      {},
      key,
    );
    const created = await t.gql<{ consentCreate: { consent: { id: string; status: string } | null; authorizationUrl: string | null; userErrors: unknown[] } }>(
      'mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id status } authorizationUrl userErrors { field code message } } }',
      {
        input: {
          endUserId: user.body.data!.endUserCreate.endUser.id,
          institutionId: institutionGid(LIVE_ID),
          scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
          redirectUri: APP_RETURN,
        },
      },
      key,
    );
    const payload = created.body.data?.consentCreate;
    expect(payload?.userErrors, JSON.stringify(created.body)).toEqual([]);
    expect(payload!.consent!.status).toBe('PENDING_AUTHORIZATION');
    expect(payload!.authorizationUrl!.startsWith(`${proxy.url}/`)).toBe(true);

    // The end user's browser goes to the bank's pages without a client certificate: the sandbox walks them itself.
    const sca = await sandbox.control<{ redirectTo: string }>('POST', '/sca/complete', {
      url: payload!.authorizationUrl,
      username: 'alice',
      decision: 'approve',
    });
    expect(sca.status).toBe(200);
    expect(sca.body.redirectTo.startsWith(`${proxy.url}/callback?`)).toBe(true);
    const back = await fetch(sca.body.redirectTo.replace(proxy.url, t.gateway.baseUrl), { redirect: 'manual' });
    const location = new URL(back.headers.get('location') ?? 'about:blank');
    expect(`${location.origin}${location.pathname}`).toBe(APP_RETURN);
    expect(location.searchParams.get('outcome')).toBe('success');

    const accounts = await accountsOf(t, key, payload!.consent!.id);
    expect(accounts.length).toBeGreaterThan(0);
    for (const a of accounts) expect((await settled(t, key, a.id, null)).syncStatus).toBe('SUCCEEDED');
    const status = await t.gql<{ node: { status: string } }>(
      'query($id: ID!) { node(id: $id) { ... on Consent { status } } }',
      { id: payload!.consent!.id },
      key,
    );
    expect(status.body.data!.node.status).toBe('ACTIVE');

    // Every request the bank received came with our QWAC (the handshake refuses anything else; the fingerprint says which).
    const qwac = new X509Certificate(pki.clientCertPem).fingerprint256;
    expect(proxy.seen.length).toBeGreaterThan(5);
    expect(new Set(proxy.seen.map((s) => s.clientCert))).toEqual(new Set([qwac]));
    const base = new URL(sandbox.bank(BANK).aisBaseUrl).pathname;
    const oauthPath = new URL(sandbox.bank(BANK).issuer).pathname;
    const calls = proxy.seen.map((s) => `${s.method} ${s.path.split('?')[0]} ${s.status}`);
    expect(calls).toEqual(
      expect.arrayContaining([
        `POST ${base}/v1/consents 201`,
        expect.stringMatching(new RegExp(`^GET ${oauthPath}/\\.well-known/\\S+ 200$`)),
        expect.stringMatching(new RegExp(`^POST ${oauthPath}/token 200$`)),
        `GET ${base}/v1/accounts 200`,
        expect.stringMatching(new RegExp(`^GET ${base}/v1/accounts/[^/]+/transactions 200$`)),
      ]),
    );

    // Resource API calls are sealed: Digest of the exact body, Signature verified with the QSealC, the certificate sent along.
    const qsealCert = new X509Certificate(qsealCertPem);
    const api = proxy.seen.filter((s) => s.path.startsWith(`${base}/v1/`));
    expect(api.length).toBeGreaterThan(2);
    for (const s of api) {
      expect(s.headers.digest).toBe(`SHA-256=${createHash('sha256').update(s.body).digest('base64')}`);
      expect(s.headers['tpp-signature-certificate']).toBe(qsealCert.raw.toString('base64'));
      const sig = signatureParams(String(s.headers.signature));
      expect(sig.keyId).toBe((entry.credentials as { qseal: { keyId: string } }).qseal.keyId);
      expect(sig.algorithm).toBe('ecdsa-sha256');
      expect(sig.headers!.split(' ')).toEqual(expect.arrayContaining(['digest', 'x-request-id', 'date', '(request-target)']));
      const signed = sig
        .headers!.split(' ')
        .map((h) => (h === '(request-target)' ? `(request-target): ${s.method.toLowerCase()} ${s.path}` : `${h}: ${String(s.headers[h])}`))
        .join('\n');
      expect(verify('sha256', Buffer.from(signed), qsealCert.publicKey, Buffer.from(sig.signature!, 'base64')), `${s.method} ${s.path}`).toBe(true);
    }
    // The consent's body was among them: its digest, and so the signature, covers the exact bytes.
    const consentPost = api.find((s) => s.method === 'POST' && s.path === `${base}/v1/consents`)!;
    expect(JSON.parse(consentPost.body)).toHaveProperty('access');

    // The tenant's audit journal has the bank calls, OAuth exchanges included, and nothing secret (checked below).
    const audit = await t.gql<{ auditEvents: { nodes: { details: { institutionId: string; operation: string; status?: number } }[] } }>(
      '{ auditEvents(action: BANK_CALL, first: 100) { nodes { details } } }',
      {},
      key,
    );
    const operations = audit.body
      .data!.auditEvents.nodes.filter((n) => n.details.institutionId === LIVE_ID)
      .map((n) => `${n.details.operation} ${n.details.status}`);
    expect(operations).toEqual(expect.arrayContaining(['consent.create 201', 'oauth.authorization_code 200', 'accounts.list 200']));

    // Neither the client secret nor a private key reached the logs or any table (audit journal included).
    const keyBodies = [pki.clientKeyPem, qsealKeyPem].map((pem) =>
      pem
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'))
        .join(''),
    );
    const logs = t.logs.join('');
    for (const secret of [clientSecret, ...keyBodies]) expect(logs.includes(secret)).toBe(false);
    for (const line of [pki.clientKeyPem, qsealKeyPem].flatMap((pem) => pem.split('\n').filter((l) => l.length > 40 && !l.startsWith('-----')))) {
      expect(logs.includes(line)).toBe(false);
    }
    const scan = await asSystem('test inspection', () => findSecretsInDatabase(t.gateway.db.orm.em.fork(), [clientSecret, ...keyBodies]));
    expect(scan.cells).toBeGreaterThan(0);
    expect(scan.hits).toEqual([]);
  });

  describe('refuses to start with a configuration that is not fit for a live bank', () => {
    /** Starts a gateway on `file` and returns the start-up error's message. */
    const startUpError = async (file: string): Promise<string> => {
      const config = loadConfig({
        PASSERELLE_ENV: 'live',
        ALLOW_LOCAL_KMS_IN_LIVE: 'true',
        PUBLIC_URL: 'https://passerelle.example.com',
        INSTITUTIONS_FILE: file,
        PORT: '0',
        EMBEDDED_PG_PORT: '0',
        DATA_DIR: path.join(dir, 'data-never-used'),
        DEMO_TENANT: 'false',
      });
      const quiet = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
      const error = await startGateway(config, quiet).then(
        async (g) => {
          await g.close();
          return undefined;
        },
        (err: Error) => err,
      );
      expect(error, 'the gateway started').toBeInstanceOf(Error);
      // Nothing was opened: the institutions file is read before the database.
      expect(fs.existsSync(path.join(dir, 'data-never-used'))).toBe(false);
      return error!.message;
    };

    it.each<[string, (e: Record<string, unknown>) => Record<string, unknown>, RegExp]>([
      [
        'a credential file that does not exist, named with its institution and field',
        (e) => ({ ...e, credentials: { ...credentials(e), qwac: { certFile: 'secrets/qwac.pem', keyFile: 'secrets/nowhere.key' } } }),
        /nordlicht-live: credentials\.qwac\.keyFile: cannot read \/\S+\/secrets\/nowhere\.key \(ENOENT\)/,
      ],
      [
        'an http URL',
        (e) => ({ ...e, aisBaseUrl: 'http://127.0.0.1:1/psd2' }),
        /institutions\.0\.aisBaseUrl: live institutions must use https \(institution "nordlicht-live"\)/,
      ],
      [
        'tls_client_auth without a QWAC',
        (e) => {
          const { qwac: _q, clientSecretFile: _s, ...rest } = credentials(e);
          return { ...e, credentials: { ...rest, tokenEndpointAuthMethod: 'tls_client_auth' } };
        },
        /institutions\.0\.credentials\.qwac: tls_client_auth needs a QWAC/,
      ],
      [
        'a client secret written into the file',
        (e) => ({ ...e, credentials: { ...credentials(e), clientSecret: 'inline-secret' } }),
        /institutions\.0\.credentials: Unrecognized key: "clientSecret"/,
      ],
      [
        'a QWAC key that belongs to another certificate',
        (e) => ({ ...e, credentials: { ...credentials(e), qwac: { certFile: 'secrets/qwac.pem', keyFile: 'secrets/qseal.key' } } }),
        /nordlicht-live: credentials\.qwac\.keyFile: the key does not belong to the QWAC/,
      ],
      [
        'the sandbox quirk (plain http, insecure OAuth)',
        (e) => ({ ...e, quirks: { sandbox: true } }),
        /institutions\.0\.quirks: the sandbox quirk .* is not allowed for live institutions/,
      ],
    ])('%s', async (_label, change, message) => {
      const text = await startUpError(writeFile('bad.json', change));
      expect(text).toMatch(message);
      expect(text).not.toMatch(/BEGIN|PRIVATE|inline-secret/);
      expect(text.includes(clientSecret)).toBe(false);
    });
  });

  it.each<[string, string, (c: Record<string, unknown>) => Record<string, unknown>, RegExp]>([
    ['a STET bank without QSeal', 'STET', ({ qseal: _q, ...c }) => c, /credentials\.qseal: STET requires signed requests/],
    [
      'a UK bank with a client secret',
      'UK_OPEN_BANKING',
      ({ qseal: _q, ...c }) => c,
      /credentials\.tokenEndpointAuthMethod: UK Open Banking \(FAPI\) takes private_key_jwt or tls_client_auth/,
    ],
    [
      'a UK bank with HTTP signatures',
      'UK_OPEN_BANKING',
      (c) => ({ ...c, tokenEndpointAuthMethod: 'tls_client_auth', clientSecretFile: undefined }),
      /credentials\.qseal: UK Open Banking does not use HTTP signatures/,
    ],
    [
      'private_key_jwt without its key',
      'BERLIN_GROUP',
      (c) => ({ ...c, tokenEndpointAuthMethod: 'private_key_jwt', clientSecretFile: undefined }),
      /credentials\.clientAssertion: private_key_jwt needs clientAssertion/,
    ],
    [
      'a Berlin Group bank without a QWAC',
      'BERLIN_GROUP',
      ({ qwac: _q, ...c }) => c,
      /credentials\.qwac: live BERLIN_GROUP banks identify the TPP by its QWAC/,
    ],
    [
      'a client assertion key that does not suit its algorithm',
      'UK_OPEN_BANKING',
      ({ qseal: _q, clientSecretFile: _s, ...c }) => ({
        ...c,
        tokenEndpointAuthMethod: 'private_key_jwt',
        clientAssertion: { keyFile: 'secrets/qseal.key', alg: 'PS256' },
      }),
      /nordlicht-live: credentials\.clientAssertion\.alg: PS256 needs a rsa or rsa-pss key, the key file holds ec/,
    ],
    [
      'an empty client secret file',
      'BERLIN_GROUP',
      (c) => ({ ...c, clientSecretFile: 'secrets/empty' }),
      /nordlicht-live: credentials\.clientSecretFile: the file is empty/,
    ],
  ])('checks what the standard asks for: refuses %s', (_label, standard, change, message) => {
    fs.writeFileSync(path.join(dir, 'secrets', 'empty'), '\n');
    const file = writeFile('standard.json', (e) => ({ ...e, standard, credentials: change(credentials(e)) }));
    expect(() => loadLiveInstitutions(file)).toThrow(message);
  });

  it('loads credentials that never print their secrets', () => {
    const loaded = loadLiveInstitutions(writeFile('ok.json')).credentials.get(LIVE_ID)!;
    expect(loaded.mtls?.certPem).toBe(pki.clientCertPem);
    expect(loaded.clientSecret).toBe(clientSecret);
    const printed = [JSON.stringify(loaded), JSON.stringify({ loaded }), inspect(loaded, { depth: 5 })].join(' ');
    expect(printed).not.toContain(clientSecret);
    expect(printed).not.toContain('PRIVATE KEY');
  });
});

describe('the guide to real banks (docs/real-banks.md)', () => {
  it('shows an institutions file entry and a UK credentials block that pass the start-up checks', () => {
    const section = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/real-banks.md'), 'utf8');
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const file = JSON.parse(blocks[0]!.replace(/…/g, '')) as { institutions: unknown[] };
    for (const entry of file.institutions) expect(institutionFileEntry.safeParse(entry).error?.issues ?? []).toEqual([]);
    const uk = credentialsEntry.parse((JSON.parse(`{${blocks[1]!}}`) as { credentials: unknown }).credentials);
    expect(credentialProblems('UK_OPEN_BANKING', uk)).toEqual([]);
  });
});
