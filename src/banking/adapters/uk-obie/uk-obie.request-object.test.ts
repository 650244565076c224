import { constants, generateKeyPairSync, verify } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../../sandbox';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { BankClientConfigError, BankInvalidRequest } from '../../errors';
import type { InstitutionDescriptor } from '../../model';
import type { ClientAssertionKey } from '../../oauth';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank } from '../../../../test/contract/adapter-contract';
import { createUkObieAdapter } from './uk-obie.adapter';
import { requestObjectSigner } from './uk-obie.request-object';

const ctx = {
  clientId: 'passerelle-thames',
  issuer: 'https://bank.example/oauth',
  redirectUri: 'https://gateway.example/callback',
  scope: 'openid accounts',
  state: 'state-0123456789abcdef',
  nonce: 'nonce-1',
  codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  codeChallengeMethod: 'S256' as const,
};
const claims = { id_token: { openbanking_intent_id: { value: 'aac-1', essential: true } } };

function decode(jwt: string) {
  const [h, p, s] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
    input: Buffer.from(`${h}.${p}`),
    signature: Buffer.from(s, 'base64url'),
  };
}

describe('UK request objects', () => {
  it('sign the authorisation request with PS256, repeating every parameter BankOAuth generated', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sign = requestObjectSigner('thames', { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), alg: 'PS256', kid: 'tpp-1' });
    const jwt = decode(await sign(ctx, claims, Date.parse('2026-11-25T10:00:00Z')));
    expect(jwt.header).toEqual({ alg: 'PS256', typ: 'oauth-authz-req+jwt', kid: 'tpp-1' });
    expect(jwt.payload).toMatchObject({
      iss: ctx.clientId,
      aud: ctx.issuer,
      client_id: ctx.clientId,
      response_type: 'code',
      redirect_uri: ctx.redirectUri,
      scope: ctx.scope,
      state: ctx.state,
      nonce: ctx.nonce,
      code_challenge: ctx.codeChallenge,
      code_challenge_method: 'S256',
      claims,
      iat: 1_795_600_800,
      nbf: 1_795_600_800,
      exp: 1_795_601_100,
    });
    expect(jwt.payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(verify('sha256', jwt.input, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, jwt.signature)).toBe(true);
  });

  it('refuse a key that does not fit the algorithm, when the adapter is built', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => requestObjectSigner('thames', { pem, alg: 'PS256' })).toThrow(BankClientConfigError);
    expect(() => requestObjectSigner('thames', { pem: 'not a key', alg: 'ES256' })).toThrow(BankClientConfigError);
  });
});

describe('UK adapter with signed request objects against a bank that knows the gateway’s key', () => {
  let run: Running;
  let institution: InstitutionDescriptor;
  let key: ClientAssertionKey;

  beforeAll(async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    key = { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), alg: 'ES256', kid: 'gateway-1' };
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'gateway-1', use: 'sig', alg: 'ES256' };
    run = await startSandbox({ clientJwks: { keys: [jwk as Record<string, unknown>] } });
    institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
  });
  afterAll(async () => run?.close());

  const request = () => ({
    scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'] as const,
    validUntil: new Date(Date.now() + 30 * 86_400_000),
    frequencyPerDay: 4,
    redirectUri: run.callback,
    state: `attempt-${Math.random().toString(36).slice(2)}-${Date.now()}`,
  });

  it('authorises a consent whose request travels as a signed JWT, and reads its accounts', async () => {
    const adapter = createUkObieAdapter({ institution, credentials: run.sandbox.clients.thames, logger: pino({ level: 'silent' }), requestObjectKey: key });
    const ctx = { institution, psuIpAddress: '198.51.100.9' };
    const started = await adapter.consents.start(ctx, { ...request(), scopes: [...request().scopes] });
    const callbackUrl = await authoriseAtBank(
      run,
      started.authorizationUrl!,
      TEST_USERS.find((u) => u.username === 'alice')!,
    );
    const done = await adapter.consents.complete(ctx, { callbackUrl, bankConsentId: started.bankConsentId, secrets: started.secrets });
    expect(done.outcome).toBe('AUTHORISED');
    if (done.outcome !== 'AUTHORISED') return;
    expect((await adapter.accounts.listAccounts(ctx, done)).length).toBe(3);
  });

  it('gets BankInvalidRequest when the bank cannot verify the request object', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const stranger = { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), alg: 'ES256' as const, kid: 'gateway-1' };
    const adapter = createUkObieAdapter({
      institution,
      credentials: run.sandbox.clients.thames,
      logger: pino({ level: 'silent' }),
      requestObjectKey: stranger,
    });
    const err = await adapter.consents.start({ institution }, { ...request(), scopes: [...request().scopes] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BankInvalidRequest);
  });
});
