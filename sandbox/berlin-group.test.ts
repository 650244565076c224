import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecValidator } from './testing/spec-validator';
import { authorizeWithOAuth, MiniBrowser, oauthClient, requestId, startSandbox, type Running } from './testing/harness';

const spec = new SpecValidator('berlin-group-psd2-api-1.3.12.yaml');

let run: Running;
beforeAll(async () => {
  run = await startSandbox();
});
afterAll(async () => {
  await run?.close();
});

/** Calls the Berlin Group API and validates the answer against the official 1.3.12 file. */
async function bg(
  bankId: string,
  method: string,
  template: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown; validate?: boolean } = {},
) {
  const res = await fetch(`${run.bank(bankId).aisBaseUrl}${path}`, {
    method,
    headers: { 'x-request-id': requestId(), ...(opts.body ? { 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10' } : {}), ...opts.headers },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  if (opts.validate !== false && body !== undefined) spec.assert(method, template, res.status, body);
  return { status: res.status, body, headers: res.headers };
}

const consentBody = (over: Record<string, unknown> = {}) => ({
  access: { allPsd2: 'allAccounts' },
  recurringIndicator: true,
  validUntil: '2027-03-01',
  frequencyPerDay: 4,
  combinedServiceIndicator: false,
  ...over,
});

async function oauthConsent(bankId = 'nordlicht', user = { username: 'alice', code: '123456' }) {
  const created = await bg(bankId, 'POST', '/v1/consents', '/v1/consents', { body: consentBody() });
  expect(created.status).toBe(201);
  const consentId = created.body.consentId as string;
  const config = await oauthClient(run, bankId);
  const { tokens } = await authorizeWithOAuth(run, config, { scope: `AIS:${consentId} offline_access` }, user);
  return { consentId, tokens, config };
}

describe('Berlin Group bank (Nordlicht Bank, NextGenPSD2 1.3.12)', () => {
  it('runs the OAuth SCA flow from consent to transactions over real HTTP, every answer matching the spec', async () => {
    const created = await bg('nordlicht', 'POST', '/v1/consents', '/v1/consents', { body: consentBody() });
    expect(created.status).toBe(201);
    expect(created.body.consentStatus).toBe('received');
    expect(created.headers.get('aspsp-sca-approach')).toBe('OAUTH');
    const scaOAuth = created.body._links.scaOAuth.href as string;
    expect(scaOAuth).toBe(`${run.bank('nordlicht').issuer}/.well-known/openid-configuration`);
    const consentId = created.body.consentId as string;

    const config = await oauthClient(run, 'nordlicht');
    const { tokens } = await authorizeWithOAuth(run, config, { scope: `AIS:${consentId} offline_access` }, { username: 'alice', code: '123456' });
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();

    const auth = { 'consent-id': consentId, authorization: `Bearer ${tokens.access_token}`, 'psu-ip-address': '192.0.2.10' };
    const status = await bg('nordlicht', 'GET', '/v1/consents/{consentId}/status', `/v1/consents/${consentId}/status`);
    expect(status.body.consentStatus).toBe('valid');
    const info = await bg('nordlicht', 'GET', '/v1/consents/{consentId}', `/v1/consents/${consentId}`);
    expect(info.body.frequencyPerDay).toBe(4);

    const accounts = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts?withBalance=true', { headers: auth });
    expect(accounts.status).toBe(200);
    // The card account is served under /v1/card-accounts.
    expect(accounts.body.accounts).toHaveLength(2);
    const checking = accounts.body.accounts.find((a: { cashAccountType: string }) => a.cashAccountType === 'CACC');
    expect(checking.iban).toMatch(/^DE\d{20}$/);

    const one = await bg('nordlicht', 'GET', '/v1/accounts/{account-id}', `/v1/accounts/${checking.resourceId}`, { headers: auth });
    expect(one.body.account.resourceId).toBe(checking.resourceId);

    const balances = await bg('nordlicht', 'GET', '/v1/accounts/{account-id}/balances', `/v1/accounts/${checking.resourceId}/balances`, { headers: auth });
    expect(balances.body.balances.map((b: { balanceType: string }) => b.balanceType)).toEqual(['closingBooked', 'expected']);

    // Follow _links.next through every page of two years of history.
    let next: string | undefined = `${run.bank('nordlicht').aisBaseUrl}/v1/accounts/${checking.resourceId}/transactions?bookingStatus=both&dateFrom=2024-11-01`;
    const seen = new Set<string>();
    let pending = 0;
    let pages = 0;
    while (next) {
      const res: Response = await fetch(next, { headers: { 'x-request-id': requestId(), ...auth } });
      const body = (await res.json()) as {
        transactions: { booked: { transactionId: string }[]; pending: { transactionId: string }[]; _links: { next?: { href: string } } };
      };
      spec.assert('GET', '/v1/accounts/{account-id}/transactions', res.status, body);
      for (const t of body.transactions.booked) seen.add(t.transactionId);
      for (const t of body.transactions.pending) seen.add(t.transactionId);
      pending += body.transactions.pending.length;
      next = body.transactions._links.next?.href;
      pages += 1;
    }
    expect(pages).toBeGreaterThan(2);
    expect(seen.size).toBeGreaterThan(400);
    expect(pending).toBeGreaterThan(0);
  });

  it('filters transactions by bookingStatus and the dateFrom/dateTo window', async () => {
    const { consentId, tokens } = await oauthConsent();
    const auth = { 'consent-id': consentId, authorization: `Bearer ${tokens.access_token}`, 'psu-ip-address': '192.0.2.10' };
    const accounts = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: auth });
    const id = accounts.body.accounts[0].resourceId;
    const booked = await bg(
      'nordlicht',
      'GET',
      '/v1/accounts/{account-id}/transactions',
      `/v1/accounts/${id}/transactions?bookingStatus=booked&dateFrom=2026-10-01&dateTo=2026-10-31`,
      { headers: auth },
    );
    expect(booked.body.transactions.pending).toBeUndefined();
    for (const t of booked.body.transactions.booked) {
      expect(t.bookingDate >= '2026-10-01' && t.bookingDate <= '2026-10-31').toBe(true);
    }
    expect(booked.body.transactions.booked.some((t: { remittanceInformationStructured?: unknown }) => t.remittanceInformationStructured)).toBe(true);
    const pending = await bg(
      'nordlicht',
      'GET',
      '/v1/accounts/{account-id}/transactions',
      `/v1/accounts/${id}/transactions?bookingStatus=pending&dateFrom=2026-11-01`,
      { headers: auth },
    );
    expect(pending.body.transactions.booked).toBeUndefined();
    expect(pending.body.transactions.pending.length).toBeGreaterThan(0);
    const missing = await bg('nordlicht', 'GET', '/v1/accounts/{account-id}/transactions', `/v1/accounts/${id}/transactions?bookingStatus=booked`, {
      headers: auth,
    });
    expect(missing.status).toBe(400);
    expect(missing.body.tppMessages[0].code).toBe('FORMAT_ERROR');
  });

  it('runs the redirect SCA flow via _links.scaRedirect and serves data to the Consent-ID', async () => {
    const tppRedirect = `${run.callback}?flow=redirect`;
    const created = await bg('nordlicht', 'POST', '/v1/consents', '/v1/consents', {
      body: consentBody({ access: { balances: [] as unknown[], transactions: [] as unknown[] } }),
      headers: { 'tpp-redirect-uri': tppRedirect, 'psu-ip-address': '192.0.2.10' },
    });
    // Empty lists ask for a bank-offered consent: the PSU's accounts are chosen at the bank.
    expect(created.status).toBe(201);
    const consentId = created.body.consentId;
    const browser = new MiniBrowser();
    await browser.go(created.body._links.scaRedirect.href);
    expect(browser.html).toContain('Log in');
    const redirect = await browser.authenticate('sme', '234567', run.callback);
    expect(redirect).toBe(tppRedirect);
    const accounts = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: { 'consent-id': consentId, 'psu-ip-address': '192.0.2.10' } });
    expect(accounts.status).toBe(200);
    expect(accounts.body.accounts).toHaveLength(3);
    const info = await bg('nordlicht', 'GET', '/v1/consents/{consentId}', `/v1/consents/${consentId}`);
    expect(info.body.access.balances).toHaveLength(3);
    const ids = await bg('nordlicht', 'GET', '/v1/consents/{consentId}/authorisations', `/v1/consents/${consentId}/authorisations`);
    expect(ids.body.authorisationIds).toHaveLength(1);
    const scaStatus = await bg(
      'nordlicht',
      'GET',
      '/v1/consents/{consentId}/authorisations/{authorisationId}',
      new URL(created.body._links.scaStatus.href).pathname.replace(/^.*\/api/, ''),
    );
    expect(scaStatus.body.scaStatus).toBe('finalised');
  });

  it('serves card accounts with masked PANs, their balances and card transactions', async () => {
    const { consentId, tokens } = await oauthConsent();
    const auth = { 'consent-id': consentId, authorization: `Bearer ${tokens.access_token}`, 'psu-ip-address': '192.0.2.10' };
    const cards = await bg('nordlicht', 'GET', '/v1/card-accounts', '/v1/card-accounts', { headers: auth });
    expect(cards.body.cardAccounts).toHaveLength(1);
    const card = cards.body.cardAccounts[0];
    expect(card.maskedPan).toMatch(/^\d{4}\*{8}\d{4}$/);
    await bg('nordlicht', 'GET', '/v1/card-accounts/{account-id}', `/v1/card-accounts/${card.resourceId}`, { headers: auth });
    await bg('nordlicht', 'GET', '/v1/card-accounts/{account-id}/balances', `/v1/card-accounts/${card.resourceId}/balances`, { headers: auth });
    const txs = await bg(
      'nordlicht',
      'GET',
      '/v1/card-accounts/{account-id}/transactions',
      `/v1/card-accounts/${card.resourceId}/transactions?bookingStatus=both&dateFrom=2026-06-01`,
      { headers: auth },
    );
    expect(txs.body.cardTransactions.booked.length).toBeGreaterThan(20);
    // A card account is not a payment account.
    const wrong = await bg('nordlicht', 'GET', '/v1/accounts/{account-id}/balances', `/v1/accounts/${card.resourceId}/balances`, { headers: auth });
    expect(wrong.status).toBe(401);
  });

  it('serves one transaction by id and starts a new authorisation explicitly', async () => {
    const { consentId, tokens } = await oauthConsent();
    const auth = { 'consent-id': consentId, authorization: `Bearer ${tokens.access_token}`, 'psu-ip-address': '192.0.2.10' };
    const accounts = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: auth });
    const id = accounts.body.accounts[0].resourceId;
    const list = await bg(
      'nordlicht',
      'GET',
      '/v1/accounts/{account-id}/transactions',
      `/v1/accounts/${id}/transactions?bookingStatus=booked&dateFrom=2026-10-01`,
      { headers: auth },
    );
    const first = list.body.transactions.booked[0];
    const one = await bg(
      'nordlicht',
      'GET',
      '/v1/accounts/{account-id}/transactions/{transactionId}',
      `/v1/accounts/${id}/transactions/${first.transactionId}`,
      { headers: auth },
    );
    expect(one.body.transactionsDetails).toEqual(first);

    const created = await bg('nordlicht', 'POST', '/v1/consents', '/v1/consents', { body: consentBody(), headers: { 'tpp-redirect-uri': run.callback } });
    const started = await bg('nordlicht', 'POST', '/v1/consents/{consentId}/authorisations', `/v1/consents/${created.body.consentId}/authorisations`, {
      body: {},
    });
    expect(started.status).toBe(201);
    const browser = new MiniBrowser();
    await browser.go(started.body._links.scaRedirect.href);
    expect(await browser.authenticate('alice', '123456', run.callback)).toBe(run.callback);
    const sca = await bg(
      'nordlicht',
      'GET',
      '/v1/consents/{consentId}/authorisations/{authorisationId}',
      `/v1/consents/${created.body.consentId}/authorisations/${started.body.authorisationId}`,
    );
    expect(sca.body.scaStatus).toBe('finalised');
    const again = await bg('nordlicht', 'POST', '/v1/consents/{consentId}/authorisations', `/v1/consents/${created.body.consentId}/authorisations`, {
      body: {},
    });
    expect(again.status).toBe(409);
    expect(again.body.tppMessages[0].code).toBe('STATUS_INVALID');
  });

  it('grants exactly the services a consent lists: account details only, or the account list only', async () => {
    const config = await oauthClient(run, 'nordlicht');
    const grant = async (access: unknown) => {
      const created = await bg('nordlicht', 'POST', '/v1/consents', '/v1/consents', { body: consentBody({ access }) });
      const { tokens } = await authorizeWithOAuth(run, config, { scope: `AIS:${created.body.consentId}` }, { username: 'alice', code: '123456' });
      return { 'consent-id': created.body.consentId as string, authorization: `Bearer ${tokens.access_token}`, 'psu-ip-address': '192.0.2.10' };
    };
    const users = await run.control<{ accounts: { id: string; iban: string; kind: string }[] }>('GET', '/banks/nordlicht/users/alice/accounts');
    const checking = users.body.accounts.find((a) => a.kind === 'checking')!;
    const savings = users.body.accounts.find((a) => a.kind === 'savings')!;

    const detailsOnly = await grant({ accounts: [{ iban: checking.iban }], balances: [{ iban: savings.iban }] });
    const listed = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: detailsOnly });
    expect(listed.body.accounts.map((a: { iban: string }) => a.iban).sort()).toEqual([checking.iban, savings.iban].sort());
    expect((await bg('nordlicht', 'GET', '/v1/accounts/{account-id}/balances', `/v1/accounts/${checking.id}/balances`, { headers: detailsOnly })).status).toBe(
      401,
    );
    expect((await bg('nordlicht', 'GET', '/v1/accounts/{account-id}/balances', `/v1/accounts/${savings.id}/balances`, { headers: detailsOnly })).status).toBe(
      200,
    );

    const listOnly = await grant({ availableAccounts: 'allAccounts' });
    expect((await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: listOnly })).body.accounts).toHaveLength(2);
    const refused = await bg(
      'nordlicht',
      'GET',
      '/v1/accounts/{account-id}/transactions',
      `/v1/accounts/${checking.id}/transactions?bookingStatus=booked&dateFrom=2026-11-01`,
      { headers: listOnly },
    );
    expect(refused.status).toBe(401);
    expect(refused.body.tppMessages[0].code).toBe('CONSENT_INVALID');
    const info = await bg('nordlicht', 'GET', '/v1/consents/{consentId}', `/v1/consents/${listOnly['consent-id']}`);
    expect(info.body.access).toEqual({ availableAccounts: 'allAccounts' });
  });

  it('answers bad input with the standard codes: missing X-Request-ID, bad IBAN, unknown consent, wrong token', async () => {
    const noId = await fetch(`${run.bank('nordlicht').aisBaseUrl}/v1/accounts`, { headers: { 'consent-id': 'x' } });
    expect(noId.status).toBe(400);
    const noIdBody = await noId.json();
    spec.assert('GET', '/v1/accounts', 400, noIdBody);
    expect(noIdBody.tppMessages[0].code).toBe('FORMAT_ERROR');

    const badIban = await bg('nordlicht', 'POST', '/v1/consents', '/v1/consents', {
      body: consentBody({ access: { accounts: [{ iban: 'DE00123456780000000000' }] } }),
    });
    expect(badIban.status).toBe(400);
    expect(badIban.body.tppMessages[0].code).toBe('FORMAT_ERROR');

    const unknown = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: { 'consent-id': 'no-such-consent' } });
    expect(unknown.status).toBe(403);
    expect(unknown.body.tppMessages[0].code).toBe('CONSENT_UNKNOWN');

    const { consentId } = await oauthConsent();
    const wrong = await bg('nordlicht', 'GET', '/v1/accounts', '/v1/accounts', { headers: { 'consent-id': consentId, authorization: 'Bearer not-a-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.tppMessages[0].code).toBe('TOKEN_INVALID');
  });
});
