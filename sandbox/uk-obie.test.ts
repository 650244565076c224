import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, flattenedVerify } from 'jose';
import { signAsClient } from './core/jws';
import { SpecValidator } from './testing/spec-validator';
import { authorizeWithOAuth, oauthClient, startSandbox, type Running } from './testing/harness';

const aisSpec = new SpecValidator('uk-obie-3.1.11-account-info.yaml');
const pisSpec = new SpecValidator('uk-obie-3.1.11-payment-initiation.yaml');

let run: Running;
let config: oidc.Configuration;
let signingKey: CryptoKey;
beforeAll(async () => {
  // The gateway's request-object signing key; the banks know its public half.
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  signingKey = pair.privateKey;
  const publicJwk = { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid: 'gateway-1', use: 'sig', alg: 'ES256' };
  run = await startSandbox({ clientJwks: { keys: [publicJwk as Record<string, unknown>] } });
  config = await oauthClient(run, 'thames');
});
afterAll(async () => {
  await run?.close();
});

async function call(
  spec: SpecValidator | undefined,
  base: 'ais' | 'pis',
  method: string,
  template: string,
  path: string,
  token: string,
  opts: { body?: unknown; headers?: Record<string, string>; unsigned?: boolean } = {},
) {
  const bank = run.bank('thames');
  const text = opts.body ? JSON.stringify(opts.body) : undefined;
  // Payment requests carry the TPP's x-jws-signature (3.1.11), made with the key the sandbox gave the client.
  const signature: Record<string, string> =
    base === 'pis' && text && !opts.unsigned ? { 'x-jws-signature': await signAsClient(run.sandbox.clients.thames!.jwsSigningKey!, text) } : {};
  const res = await fetch(`${base === 'ais' ? bank.aisBaseUrl : bank.pisBaseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'x-fapi-interaction-id': randomUUID(),
      ...(opts.body ? { 'content-type': 'application/json' } : {}),
      ...signature,
      ...opts.headers,
    },
    body: text,
  });
  const answer = await res.text();
  const body = answer ? JSON.parse(answer) : undefined;
  if (spec && body !== undefined && res.status < 500 && res.status !== 429) spec.assert(method, template, res.status, body);
  return { status: res.status, body, headers: res.headers, text: answer };
}

const intentClaims = (id: string) =>
  JSON.stringify({ id_token: { openbanking_intent_id: { value: id, essential: true } }, userinfo: { openbanking_intent_id: { value: id, essential: true } } });

async function authorisedConsent(
  permissions = ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits'],
) {
  const cc = await oidc.clientCredentialsGrant(config, { scope: 'accounts' });
  const created = await call(aisSpec, 'ais', 'POST', '/account-access-consents', '/account-access-consents', cc.access_token, {
    body: { Data: { Permissions: permissions, ExpirationDateTime: '2027-01-15T00:00:00+00:00' }, Risk: {} },
  });
  expect(created.status).toBe(201);
  const consentId = created.body.Data.ConsentId as string;
  const { tokens } = await authorizeWithOAuth(
    run,
    config,
    { scope: 'openid accounts', claims: intentClaims(consentId) },
    { username: 'alice', code: '123456' },
    { par: true },
  );
  return { consentId, tokens, cc };
}

describe('UK Open Banking bank (Thames & Harbour Bank, Read/Write 3.1.11)', () => {
  it('runs client credentials, the consent, PSU authorisation code with PKCE over PAR, and reads accounts, balances and transactions', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'accounts' });
    const created = await call(aisSpec, 'ais', 'POST', '/account-access-consents', '/account-access-consents', cc.access_token, {
      body: {
        Data: { Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadTransactionsDebits'] },
        Risk: {},
      },
    });
    expect(created.body.Data.Status).toBe('AwaitingAuthorisation');
    const consentId = created.body.Data.ConsentId as string;

    const { tokens } = await authorizeWithOAuth(
      run,
      config,
      { scope: 'openid accounts', claims: intentClaims(consentId) },
      { username: 'alice', code: '123456' },
      { par: true },
    );
    expect(tokens.claims()?.openbanking_intent_id).toBe(consentId);
    const at = tokens.access_token;

    const read = await call(aisSpec, 'ais', 'GET', '/account-access-consents/{ConsentId}', `/account-access-consents/${consentId}`, cc.access_token);
    expect(read.body.Data.Status).toBe('Authorised');

    const accounts = await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', at, { headers: { 'x-fapi-customer-ip-address': '192.0.2.1' } });
    expect(accounts.status).toBe(200);
    expect(accounts.body.Data.Account).toHaveLength(3);
    const current = accounts.body.Data.Account.find((a: { AccountSubType: string }) => a.AccountSubType === 'CurrentAccount');
    expect(current.Account[0].SchemeName).toBe('UK.OBIE.SortCodeAccountNumber');

    await call(aisSpec, 'ais', 'GET', '/accounts/{AccountId}', `/accounts/${current.AccountId}`, at);
    const balances = await call(aisSpec, 'ais', 'GET', '/accounts/{AccountId}/balances', `/accounts/${current.AccountId}/balances`, at);
    expect(balances.body.Data.Balance[0].Amount.Currency).toBe('GBP');
    const all = await call(aisSpec, 'ais', 'GET', '/balances', '/balances', at, { headers: { 'x-fapi-customer-ip-address': '192.0.2.1' } });
    expect(all.body.Data.Balance).toHaveLength(6);

    let next: string | undefined = `${run.bank('thames').aisBaseUrl}/accounts/${current.AccountId}/transactions?fromBookingDateTime=2025-06-01T00:00:00Z`;
    let count = 0;
    let pages = 0;
    while (next) {
      const res: Response = await fetch(next, { headers: { authorization: `Bearer ${at}`, 'x-fapi-customer-ip-address': '192.0.2.1' } });
      const body = (await res.json()) as { Data: { Transaction: unknown[] }; Links: { Next?: string } };
      aisSpec.assert('GET', '/accounts/{AccountId}/transactions', res.status, body);
      count += body.Data.Transaction.length;
      next = body.Links.Next;
      pages += 1;
    }
    expect(pages).toBeGreaterThan(1);
    expect(count).toBeGreaterThan(200);
  });

  it('accepts the authorisation request as a signed request object (JAR) pushed with PAR', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'accounts' });
    const created = await call(aisSpec, 'ais', 'POST', '/account-access-consents', '/account-access-consents', cc.access_token, {
      body: { Data: { Permissions: ['ReadAccountsBasic', 'ReadBalances'] }, Risk: {} },
    });
    const consentId = created.body.Data.ConsentId as string;
    const { tokens } = await authorizeWithOAuth(
      run,
      config,
      { scope: 'openid accounts', claims: intentClaims(consentId) },
      { username: 'sme', code: '234567' },
      { jar: signingKey },
    );
    expect(tokens.claims()?.openbanking_intent_id).toBe(consentId);
    const accounts = await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', tokens.access_token);
    expect(accounts.body.Data.Account).toHaveLength(3);
    // ReadAccountsBasic: no account identifiers.
    expect(accounts.body.Data.Account[0].Account).toBeUndefined();
  });

  it('expires access tokens on the bank clock and refreshes them with the refresh token', async () => {
    const { tokens } = await authorisedConsent();
    expect((await call(undefined, 'ais', 'GET', '', '/accounts', tokens.access_token)).status).toBe(200);
    await run.control('POST', '/banks/thames/clock/advance', { hours: 2 });
    const expired = await call(undefined, 'ais', 'GET', '', '/accounts', tokens.access_token);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('invalid_token');
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect((await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', refreshed.access_token)).status).toBe(200);
  });

  it('refuses a revoked consent (403 InvalidConsentStatus) and an expired one (403 Reauthenticate)', async () => {
    const revoked = await authorisedConsent();
    await run.control('POST', `/banks/thames/consents/${revoked.consentId}/revoke`);
    const r = await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', revoked.tokens.access_token);
    expect(r.status).toBe(403);
    expect(r.body.Errors[0].ErrorCode).toBe('UK.OBIE.Resource.InvalidConsentStatus');

    const expired = await authorisedConsent();
    await run.control('POST', `/banks/thames/consents/${expired.consentId}/expire`);
    const e = await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', expired.tokens.access_token);
    expect(e.status).toBe(403);
    expect(e.body.Errors[0].ErrorCode).toBe('UK.OBIE.Reauthenticate');
  });

  it('counts unattended reads (no x-fapi-customer-ip-address) and answers 429 with Retry-After past four a day', async () => {
    const { tokens } = await authorisedConsent();
    for (let i = 0; i < 4; i++) expect((await call(undefined, 'ais', 'GET', '', '/accounts', tokens.access_token)).status).toBe(200);
    const exceeded = await call(undefined, 'ais', 'GET', '', '/accounts', tokens.access_token);
    expect(exceeded.status).toBe(429);
    expect(Number(exceeded.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(exceeded.body.Code).toBe('ACCESS_EXCEEDED');
    const present = await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', tokens.access_token, {
      headers: { 'x-fapi-customer-ip-address': '192.0.2.1' },
    });
    expect(present.status).toBe(200);
  });

  it('deletes an account-access consent and then no longer knows it', async () => {
    const { consentId, tokens, cc } = await authorisedConsent();
    const del = await fetch(`${run.bank('thames').aisBaseUrl}/account-access-consents/${consentId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${cc.access_token}` },
    });
    expect(del.status).toBe(204);
    const read = await call(aisSpec, 'ais', 'GET', '/account-access-consents/{ConsentId}', `/account-access-consents/${consentId}`, cc.access_token);
    expect(read.status).toBe(400);
    const data = await call(aisSpec, 'ais', 'GET', '/accounts', '/accounts', tokens.access_token);
    expect(data.status).toBe(403);
  });

  it('answers bad consent input with OBErrorResponse1 and a missing token with 401', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'accounts' });
    const bad = await call(aisSpec, 'ais', 'POST', '/account-access-consents', '/account-access-consents', cc.access_token, {
      body: { Data: { Permissions: ['ReadEverything'] }, Risk: {} },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.Errors[0].ErrorCode).toBe('UK.OBIE.Field.Invalid');
    const noToken = await fetch(`${run.bank('thames').aisBaseUrl}/accounts`);
    expect(noToken.status).toBe(401);
    const wrongKind = await call(undefined, 'ais', 'GET', '', '/accounts', cc.access_token);
    expect(wrongKind.status).toBe(401);
  });

  describe('x-jws-signature (detached JWS, PS256, Read/Write 3.1.4+)', () => {
    const initiation = {
      InstructionIdentification: 'INSTR-JWS',
      EndToEndIdentification: 'E2E-JWS',
      InstructedAmount: { Amount: '10.00', Currency: 'GBP' },
      CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678', Name: 'Ada Lovelace' },
    };
    const body = { Data: { Initiation: initiation }, Risk: {} };
    const post = async (headers: Record<string, string>, raw = JSON.stringify(body)) => {
      const cc = await oidc.clientCredentialsGrant(config, { scope: 'payments' });
      const res = await fetch(`${run.bank('thames').pisBaseUrl}/domestic-payment-consents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cc.access_token}`, 'content-type': 'application/json', 'x-idempotency-key': randomUUID(), ...headers },
        body: raw,
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    const client = () => run.sandbox.clients.thames!.jwsSigningKey!;

    it('accepts a payment consent signed over its exact body, and signs its answer with a key its JWKS publishes', async () => {
      const raw = JSON.stringify(body);
      const res = await post({ 'x-jws-signature': await signAsClient(client(), raw) }, raw);
      expect(res.status).toBe(201);
      const [protectedHeader, detached, signature] = res.headers.get('x-jws-signature')!.split('.');
      expect(detached).toBe('');
      const jwks = (await (await fetch(run.bank('thames').jws!.jwksUrl)).json()) as { keys: Record<string, unknown>[] };
      const verified = await flattenedVerify(
        { protected: protectedHeader!, payload: Buffer.from(res.text).toString('base64url'), signature: signature! },
        createLocalJWKSet(jwks as never),
        {
          algorithms: ['PS256'],
          crit: { 'http://openbanking.org.uk/iat': true, 'http://openbanking.org.uk/iss': true, 'http://openbanking.org.uk/tan': true },
        },
      );
      expect(verified.protectedHeader).toMatchObject({
        alg: 'PS256',
        'http://openbanking.org.uk/iss': run.bank('thames').jws!.issuer,
        crit: expect.arrayContaining(['http://openbanking.org.uk/tan']),
      });
      // A changed answer no longer verifies against it.
      await expect(
        flattenedVerify(
          { protected: protectedHeader!, payload: Buffer.from(res.text.replace('10.00', '99.00')).toString('base64url'), signature: signature! },
          createLocalJWKSet(jwks as never),
          {
            algorithms: ['PS256'],
            crit: { 'http://openbanking.org.uk/iat': true, 'http://openbanking.org.uk/iss': true, 'http://openbanking.org.uk/tan': true },
          },
        ),
      ).rejects.toThrow(/signature verification failed/);
    });

    it.each([
      ['without x-jws-signature', async () => ({}), 'UK.OBIE.Signature.Missing'],
      [
        'whose body was changed after signing',
        async () => ({ 'x-jws-signature': await signAsClient(client(), JSON.stringify(body)) }),
        'UK.OBIE.Signature.Invalid',
      ],
      [
        'with an attached (not detached) JWS',
        async () => ({ 'x-jws-signature': (await signAsClient(client(), JSON.stringify(body))).replace('..', '.e30.') }),
        'UK.OBIE.Signature.Malformed',
      ],
      [
        'signed an hour and more ago',
        async () => ({ 'x-jws-signature': await signAsClient(client(), JSON.stringify(body), Date.now() - 2 * 3600_000) }),
        'UK.OBIE.Signature.InvalidClaim',
      ],
    ])('refuses a payment consent %s with 400 and the UK error shape', async (_name, headers, code) => {
      const raw = JSON.stringify(body);
      const sent = _name.includes('changed') ? raw.replace('10.00', '99.00') : raw;
      const res = await post(await headers(), sent);
      expect(res.status).toBe(400);
      const error = JSON.parse(res.text) as { Code: string; Errors: { ErrorCode: string; Path?: string }[] };
      pisSpec.assert('POST', '/domestic-payment-consents', 400, error);
      expect(error.Errors[0]).toMatchObject({ ErrorCode: code, Path: 'x-jws-signature' });
    });
  });

  it('initiates a domestic payment with x-idempotency-key that is AcceptedSettlementInProcess at once and AcceptedSettlementCompleted on the bank clock', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'payments' });
    const initiation = {
      InstructionIdentification: 'INSTR-1',
      EndToEndIdentification: 'E2E-1',
      InstructedAmount: { Amount: '25.50', Currency: 'GBP' },
      CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678', Name: 'Ada Lovelace' },
      RemittanceInformation: { Reference: 'Invoice 42' },
    };
    const key = randomUUID();
    const body = { Data: { Initiation: initiation }, Risk: {} };
    const consent = await call(pisSpec, 'pis', 'POST', '/domestic-payment-consents', '/domestic-payment-consents', cc.access_token, {
      body,
      headers: { 'x-idempotency-key': key },
    });
    expect(consent.status).toBe(201);
    const again = await call(pisSpec, 'pis', 'POST', '/domestic-payment-consents', '/domestic-payment-consents', cc.access_token, {
      body,
      headers: { 'x-idempotency-key': key },
    });
    expect(again.body.Data.ConsentId).toBe(consent.body.Data.ConsentId);
    const clash = await call(pisSpec, 'pis', 'POST', '/domestic-payment-consents', '/domestic-payment-consents', cc.access_token, {
      body: { ...body, Data: { Initiation: { ...initiation, EndToEndIdentification: 'E2E-2' } } },
      headers: { 'x-idempotency-key': key },
    });
    expect(clash.status).toBe(400);

    const consentId = consent.body.Data.ConsentId as string;
    const { tokens } = await authorizeWithOAuth(
      run,
      config,
      { scope: 'openid payments', claims: intentClaims(consentId) },
      { username: 'alice', code: '123456' },
    );
    const authorised = await call(pisSpec, 'pis', 'GET', '/domestic-payment-consents/{ConsentId}', `/domestic-payment-consents/${consentId}`, cc.access_token);
    expect(authorised.body.Data.Status).toBe('Authorised');

    const paid = await call(pisSpec, 'pis', 'POST', '/domestic-payments', '/domestic-payments', tokens.access_token, {
      body: { Data: { ConsentId: consentId, Initiation: initiation }, Risk: {} },
      headers: { 'x-idempotency-key': randomUUID() },
    });
    expect(paid.status).toBe(201);
    expect(paid.body.Data.Status).toBe('AcceptedSettlementInProcess');
    const id = paid.body.Data.DomesticPaymentId as string;
    await run.control('POST', '/banks/thames/clock/advance', { seconds: 61 });
    const done = await call(pisSpec, 'pis', 'GET', '/domestic-payments/{DomesticPaymentId}', `/domestic-payments/${id}`, cc.access_token);
    expect(done.body.Data.Status).toBe('AcceptedSettlementCompleted');
    const listed = await run.control<{ payments: { id: string; status: string }[] }>('GET', '/banks/thames/payments');
    expect(listed.body.payments.filter((p) => p.id === consentId)).toEqual([expect.objectContaining({ status: 'ACSC' })]);
  });

  it('keeps the consent of the magic amount 666.00 Authorised and rejects the payment, with AM04 in its payment details', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'payments' });
    const initiation = {
      InstructionIdentification: 'INSTR-666',
      EndToEndIdentification: 'E2E-666',
      InstructedAmount: { Amount: '666.00', Currency: 'GBP' },
      CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678', Name: 'Ada Lovelace' },
    };
    const consent = await call(pisSpec, 'pis', 'POST', '/domestic-payment-consents', '/domestic-payment-consents', cc.access_token, {
      body: { Data: { Initiation: initiation }, Risk: {} },
      headers: { 'x-idempotency-key': randomUUID() },
    });
    const consentId = consent.body.Data.ConsentId as string;
    const { tokens } = await authorizeWithOAuth(
      run,
      config,
      { scope: 'openid payments', claims: intentClaims(consentId) },
      { username: 'alice', code: '123456' },
    );
    const read = await call(pisSpec, 'pis', 'GET', '/domestic-payment-consents/{ConsentId}', `/domestic-payment-consents/${consentId}`, cc.access_token);
    expect(read.body.Data.Status).toBe('Authorised');
    const paid = await call(pisSpec, 'pis', 'POST', '/domestic-payments', '/domestic-payments', tokens.access_token, {
      body: { Data: { ConsentId: consentId, Initiation: initiation }, Risk: {} },
      headers: { 'x-idempotency-key': randomUUID() },
    });
    expect(paid.body.Data.Status).toBe('Rejected');
    const id = paid.body.Data.DomesticPaymentId as string;
    const details = await call(
      pisSpec,
      'pis',
      'GET',
      '/domestic-payments/{DomesticPaymentId}/payment-details',
      `/domestic-payments/${id}/payment-details`,
      cc.access_token,
    );
    expect(details.status).toBe(200);
    expect(details.body.Data.PaymentStatus[0]).toMatchObject({ Status: 'Rejected', StatusDetail: { Status: 'RJCT', StatusReason: 'ProprietaryRejection' } });
    expect(details.body.Data.PaymentStatus[0].StatusDetail.StatusReasonDescription).toMatch(/^AM04\b/);
  });
});
