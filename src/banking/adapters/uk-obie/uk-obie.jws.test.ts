import { randomBytes, randomUUID } from 'node:crypto';
import { flattenedVerify, importJWK, type JWK } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankInvalidRequest, BankResponseInvalid } from '../../errors';
import type { InstitutionDescriptor } from '../../model';
import type { BankAdapter, BankCallContext, PaymentRequest } from '../../ports';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { createUkObieAdapter } from './uk-obie.adapter';
import { OB_IAT, OB_ISS, OB_TAN, ukJwsSigner, ukJwsVerifier } from './uk-obie.jws';

/**
 * x-jws-signature both ways against the sandbox's UK bank over real sockets: the adapter signs its
 * payment requests (the bank checks them), and checks the bank's signature on every payment answer
 * against the JWKS the registry names, refusing an answer whose body or signature was touched.
 */
describe('UK x-jws-signature between the adapter and the sandbox bank', () => {
  let run: Running;
  let institution: InstitutionDescriptor;
  let ctx: BankCallContext;
  /** What the transport does to the bank's answers on their way back (a man in the middle). */
  let tamper: ((res: Response, url: string) => Promise<Response>) | undefined;
  const sent: { url: string; method: string; headers: Headers; body: string | undefined }[] = [];
  const transport: typeof fetch = async (input, init) => {
    sent.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    const res = await fetch(input, init);
    return tamper ? tamper(res, String(input)) : res;
  };
  const adapter = (over: { credentials?: Partial<Running['sandbox']['clients'][string]>; quirks?: Record<string, unknown> } = {}): BankAdapter =>
    createUkObieAdapter({
      institution: { ...institution, quirks: { ...institution.quirks, ...over.quirks } },
      credentials: { ...run.sandbox.clients.thames!, ...over.credentials },
      redirectUri: run.callback,
      logger: pino({ level: 'silent' }),
      fetch: transport,
    });
  const request = (): PaymentRequest => ({
    scheme: 'FASTER_PAYMENTS',
    debtorAccount: null,
    creditor: { name: 'Ada Lovelace', iban: 'GB33BUKB20201555555555', bic: null },
    amount: { amount: '10.00', currency: 'GBP' },
    remittanceInformation: 'Rent May',
    endToEndId: null,
    requestedExecutionDate: null,
    redirectUri: run.callback,
    state: randomBytes(24).toString('base64url'),
    idempotencyKey: randomUUID(),
  });
  const consentCreated = (url: string) => url.endsWith('/domestic-payment-consents');

  beforeAll(async () => {
    run = await startSandbox();
    institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
    ctx = { institution, psuIpAddress: '203.0.113.7' };
  });
  afterAll(async () => run?.close());

  it('signs the payment consent over its exact body with PS256 and the OB critical claims, and takes the bank’s signed answer', async () => {
    tamper = undefined;
    sent.length = 0;
    const started = await adapter().payments!.initiate(ctx, request());
    expect(started.bankPaymentId).toBeTruthy();
    const post = sent.find((s) => s.method === 'POST' && consentCreated(s.url))!;
    const [protectedHeader, detached, signature] = post.headers.get('x-jws-signature')!.split('.');
    expect(detached).toBe('');
    // Checked here with the public half of the key the sandbox gave the client, independently of our verifier.
    const jwk = (await import('node:crypto')).createPublicKey(run.sandbox.clients.thames!.jwsSigningKey!.pem).export({ format: 'jwk' }) as JWK;
    const verified = await flattenedVerify(
      { protected: protectedHeader!, payload: Buffer.from(post.body!).toString('base64url'), signature: signature! },
      await importJWK(jwk, 'PS256'),
      {
        algorithms: ['PS256'],
        crit: { [OB_IAT]: true, [OB_ISS]: true, [OB_TAN]: true },
      },
    );
    expect(verified.protectedHeader).toMatchObject({
      alg: 'PS256',
      kid: run.sandbox.clients.thames!.jwsSigningKey!.kid,
      [OB_ISS]: run.sandbox.clients.thames!.jwsSigningKey!.iss,
      crit: expect.arrayContaining([OB_IAT, OB_ISS, OB_TAN]),
    });
    expect(verified.protectedHeader).not.toHaveProperty('b64');
    expect(Math.abs((verified.protectedHeader![OB_IAT] as number) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('refuses a bank answer whose body was changed on the way, keeping the bank’s signature', async () => {
    tamper = async (res, url) => {
      if (!consentCreated(url)) return res;
      const text = (await res.text()).replace('"10.00"', '"1000.00"');
      return new Response(text, { status: res.status, headers: res.headers });
    };
    await expect(adapter().payments!.initiate(ctx, request())).rejects.toThrow(BankResponseInvalid);
    await expect(adapter().payments!.initiate(ctx, request())).rejects.toThrow(/x-jws-signature does not match the body/);
  });

  it('refuses a bank answer without x-jws-signature', async () => {
    tamper = async (res, url) => {
      if (!consentCreated(url)) return res;
      const headers = new Headers(res.headers);
      headers.delete('x-jws-signature');
      return new Response(await res.text(), { status: res.status, headers });
    };
    await expect(adapter().payments!.initiate(ctx, request())).rejects.toThrow(/x-jws-signature is missing/);
  });

  it('refuses a bank answer signed by another key than the bank publishes', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const forge = ukJwsSigner('thames', {
      pem: stranger,
      kid: 'thames-bank-signing',
      iss: run.bank('thames').jws!.issuer,
      tan: run.bank('thames').jws!.trustAnchor,
    });
    tamper = async (res, url) => {
      if (!consentCreated(url)) return res;
      const text = await res.text();
      const headers = new Headers(res.headers);
      headers.set('x-jws-signature', await forge(text));
      return new Response(text, { status: res.status, headers });
    };
    await expect(adapter().payments!.initiate(ctx, request())).rejects.toThrow(/x-jws-signature does not match the body/);
  });

  it('is refused by the bank (UK.OBIE.Signature.Invalid) when it signs with a key the bank does not know', async () => {
    tamper = undefined;
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const err = await adapter({ credentials: { jwsSigningKey: { ...run.sandbox.clients.thames!.jwsSigningKey!, pem } } })
      .payments!.initiate(ctx, request())
      .catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/UK\.OBIE\.Signature\.Invalid/);
  });

  it('sends no payment without a signing key, and trusts no answer without the bank’s JWKS: coded refusals before any call', async () => {
    tamper = undefined;
    sent.length = 0;
    await expect(adapter({ credentials: { jwsSigningKey: undefined } }).payments!.initiate(ctx, request())).rejects.toThrow(/credentials\.jws/);
    await expect(adapter({ quirks: { jwsJwksUrl: undefined } }).payments!.initiate(ctx, request())).rejects.toThrow(BankInvalidRequest);
    expect(sent.filter((s) => s.url.includes('/domestic-payment'))).toHaveLength(0);
  });
});

describe('ukJwsVerifier', () => {
  it('reports an unreachable JWKS as the bank being unavailable, not as a bad signature', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const signature = await ukJwsSigner('bank', { pem, kid: 'k', iss: 'bank-org' })('{"Data":{}}');
    const verify = ukJwsVerifier({ institutionId: 'bank', jwksUrl: 'http://127.0.0.1:9/jwks' });
    const err = await verify('payment.get', '{"Data":{}}', new Headers({ 'x-jws-signature': signature }));
    expect(err?.code).toBe('BANK_UNAVAILABLE');
  });
});

describe('credentials.jws in the institutions file', () => {
  it('loads an RSA key as the signing key (hidden when printed), refuses an EC key, and is refused outside UK Open Banking', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { credentialProblems, credentialsEntry, loadCredentials, CredentialsLoadError } = await import('../../credentials');
    const dir = mkdtempSync(path.join(tmpdir(), 'jws-'));
    writeFileSync(path.join(dir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(path.join(dir, 'ec.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const entry = (keyFile: string) =>
      credentialsEntry.parse({
        clientId: 'tpp',
        tokenEndpointAuthMethod: 'tls_client_auth',
        jws: { keyFile, kid: 'kid-1', issuer: '0015800001ZEZ1AAAX/ssa-1' },
      });
    const loaded = loadCredentials('bank', 'UK_OPEN_BANKING', entry('rsa.pem'), dir);
    expect(loaded.jwsSigningKey).toMatchObject({ kid: 'kid-1', iss: '0015800001ZEZ1AAAX/ssa-1', tan: 'openbanking.org.uk' });
    expect(JSON.stringify(loaded)).not.toContain('PRIVATE KEY');
    expect(() => loadCredentials('bank', 'UK_OPEN_BANKING', entry('ec.pem'), dir)).toThrow(CredentialsLoadError);
    expect(() => loadCredentials('bank', 'UK_OPEN_BANKING', entry('ec.pem'), dir)).toThrow(/credentials\.jws\.keyFile: PS256 needs an RSA key/);
    expect(credentialProblems('BERLIN_GROUP', entry('rsa.pem'))).toContainEqual({
      path: ['jws'],
      message: 'x-jws-signature is sent to UK Open Banking banks only',
    });
  });
});
