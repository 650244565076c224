import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SpecValidator } from './testing/spec-validator';
import { ADMIN_TOKEN, authorizeWithOAuth, MiniBrowser, oauthClient, requestId, startSandbox, TEST_NOW, type Running } from './testing/harness';

const spec = new SpecValidator('berlin-group-psd2-api-1.3.12.yaml');

let run: Running;
beforeAll(async () => {
  run = await startSandbox();
});
afterAll(async () => {
  await run?.close();
});
beforeEach(async () => {
  await run.control('POST', '/banks/nordlicht/reset');
});

const base = () => run.bank('nordlicht').aisBaseUrl;

async function get(path: string, headers: Record<string, string>, template?: string) {
  const res = await fetch(`${base()}${path}`, { headers: { 'x-request-id': requestId(), ...headers } });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  // The spec declares no body for 5xx answers: only 4xx and 2xx bodies are checked.
  if (template && typeof body === 'object' && res.status < 500) spec.assert('GET', template, res.status, body);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever JSON the server sent
  return { status: res.status, body: body as Record<string, any>, headers: res.headers, text };
}

/** A redirect-approach consent approved by alice: data calls need only the Consent-ID. */
async function consent(over: Record<string, unknown> = {}) {
  const res = await fetch(`${base()}/v1/consents`, {
    method: 'POST',
    headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', 'tpp-redirect-uri': run.callback },
    body: JSON.stringify({
      access: { allPsd2: 'allAccounts' },
      recurringIndicator: true,
      validUntil: '2027-05-01',
      frequencyPerDay: 4,
      combinedServiceIndicator: false,
      ...over,
    }),
  });
  const created = (await res.json()) as { consentId: string; _links: { scaRedirect: { href: string } } };
  const browser = new MiniBrowser();
  await browser.go(created._links.scaRedirect.href);
  expect(await browser.authenticate('alice', '123456', run.callback)).toBe(run.callback);
  return created.consentId;
}

describe('sandbox bank behaviour (quota, expiry, clock, faults, control API, SCA pages)', () => {
  it('counts unattended reads against frequencyPerDay and answers 429 ACCESS_EXCEEDED until the next bank day', async () => {
    const id = await consent();
    const h = { 'consent-id': id };
    for (let i = 0; i < 4; i++) expect((await get('/v1/accounts', h)).status).toBe(200);
    const exceeded = await get('/v1/accounts', h, '/v1/accounts');
    expect(exceeded.status).toBe(429);
    expect(exceeded.body.tppMessages[0].code).toBe('ACCESS_EXCEEDED');
    expect(Number(exceeded.headers.get('retry-after'))).toBeGreaterThan(0);
    // The PSU is present: the call does not count.
    expect((await get('/v1/accounts', { ...h, 'psu-ip-address': '192.0.2.5' })).status).toBe(200);
    await run.control('POST', '/banks/nordlicht/clock/advance', { days: 1 });
    expect((await get('/v1/accounts', h)).status).toBe(200);
  });

  it('lets the control API exhaust the daily quota at once', async () => {
    const id = await consent();
    const set = await run.control('PUT', `/banks/nordlicht/consents/${id}/usage`, { used: 4 });
    expect(set.status).toBe(200);
    expect((await get('/v1/accounts', { 'consent-id': id })).status).toBe(429);
  });

  it('answers CONSENT_EXPIRED after validUntil on the bank clock and CONSENT_INVALID once revoked or deleted', async () => {
    const soon = await consent({ validUntil: '2026-11-21' });
    expect((await get('/v1/accounts', { 'consent-id': soon, 'psu-ip-address': '192.0.2.5' })).status).toBe(200);
    await run.control('POST', '/banks/nordlicht/clock/advance', { days: 2 });
    const expired = await get('/v1/accounts', { 'consent-id': soon, 'psu-ip-address': '192.0.2.5' }, '/v1/accounts');
    expect(expired.status).toBe(401);
    expect(expired.body.tppMessages[0].code).toBe('CONSENT_EXPIRED');
    expect((await get(`/v1/consents/${soon}/status`, {}, '/v1/consents/{consentId}/status')).body.consentStatus).toBe('expired');

    const revoked = await consent();
    await run.control('POST', `/banks/nordlicht/consents/${revoked}/revoke`);
    const r = await get('/v1/accounts', { 'consent-id': revoked }, '/v1/accounts');
    expect(r.status).toBe(401);
    expect(r.body.tppMessages[0].code).toBe('CONSENT_INVALID');
    expect((await get(`/v1/consents/${revoked}/status`, {})).body.consentStatus).toBe('revokedByPsu');

    const deleted = await consent();
    const del = await fetch(`${base()}/v1/consents/${deleted}`, { method: 'DELETE', headers: { 'x-request-id': requestId() } });
    expect(del.status).toBe(204);
    expect((await get('/v1/accounts', { 'consent-id': deleted })).body.tppMessages[0].code).toBe('CONSENT_INVALID');

    const forced = await consent();
    await run.control('POST', `/banks/nordlicht/consents/${forced}/expire`);
    expect((await get('/v1/accounts', { 'consent-id': forced })).body.tppMessages[0].code).toBe('CONSENT_EXPIRED');
  });

  it('injects 500, 503 and 429 with Retry-After in the standard error shape, for a number of calls', async () => {
    const id = await consent();
    const h = { 'consent-id': id, 'psu-ip-address': '192.0.2.5' };
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'status', status: 500, times: 1 });
    const failed = await get('/v1/accounts', h, '/v1/accounts');
    expect(failed.status).toBe(500);
    expect(failed.body.tppMessages[0].code).toBe('INTERNAL_SERVER_ERROR');
    expect((await get('/v1/accounts', h)).status).toBe(200);

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'status', status: 503, route: '/balances' });
    const accounts = await get('/v1/accounts', h);
    const accountId = accounts.body.accounts[0].resourceId;
    const down = await get(`/v1/accounts/${accountId}/balances`, h, '/v1/accounts/{account-id}/balances');
    expect(down.status).toBe(503);
    expect(down.body.tppMessages[0].code).toBe('SERVICE_UNAVAILABLE');
    expect((await get('/v1/accounts', h)).status).toBe(200);
    expect((await run.control('DELETE', '/banks/nordlicht/faults')).status).toBe(204);

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'rate-limit', retryAfterSeconds: 7, times: 2 });
    const limited = await get('/v1/accounts', h, '/v1/accounts');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
  });

  it('injects latency, timeouts and malformed JSON', async () => {
    const id = await consent();
    const h = { 'consent-id': id, 'psu-ip-address': '192.0.2.5' };
    await run.control('POST', '/banks/nordlicht/faults', { kind: 'latency', latencyMs: 300, times: 1 });
    const started = Date.now();
    expect((await get('/v1/accounts', h)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'timeout', times: 1 });
    await expect(fetch(`${base()}/v1/accounts`, { headers: { 'x-request-id': requestId(), ...h }, signal: AbortSignal.timeout(300) })).rejects.toThrow();

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'malformed-json', times: 1 });
    const broken = await get('/v1/accounts', h);
    expect(broken.status).toBe(200);
    expect(() => JSON.parse(broken.text)).toThrow();
    expect((await get('/v1/accounts', h)).status).toBe(200);
  });

  it('cuts STET (HAL) answers short too when told to send malformed JSON', async () => {
    const url = `${run.bank('rivage').aisBaseUrl}/accounts`;
    const headers = { 'x-request-id': requestId() };
    const whole = await fetch(url, { headers });
    const wholeText = await whole.text();
    expect(() => JSON.parse(wholeText)).not.toThrow();
    await run.control('POST', '/banks/rivage/faults', { kind: 'malformed-json', times: 1 });
    const broken = await fetch(url, { headers: { 'x-request-id': requestId() } });
    expect(broken.headers.get('content-type')).toContain('hal+json');
    const text = await broken.text();
    expect(() => JSON.parse(text)).toThrow();
  });

  it('drops transaction ids, churns them and repeats entries across pages when told to', async () => {
    const id = await consent();
    const h = { 'consent-id': id, 'psu-ip-address': '192.0.2.5' };
    const accountId = (await get('/v1/accounts', h)).body.accounts[0].resourceId;
    const path = `/v1/accounts/${accountId}/transactions?bookingStatus=booked&dateFrom=2025-01-01`;
    const page0 = await get(path, h);
    const page1 = await get(`${path}&page=1`, h);
    const last0 = page0.body.transactions.booked.at(-1);
    expect(page1.body.transactions.booked[0].transactionId).not.toBe(last0.transactionId);

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'duplicates', route: '/transactions' });
    const dup = await get(`${path}&page=1`, h, '/v1/accounts/{account-id}/transactions');
    expect(dup.body.transactions.booked[0]).toEqual(last0);

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'missing-ids', route: '/transactions', times: 1 });
    const noIds = await get(path, h, '/v1/accounts/{account-id}/transactions');
    expect(noIds.body.transactions.booked.every((t: { transactionId?: string }) => t.transactionId === undefined)).toBe(true);

    await run.control('POST', '/banks/nordlicht/faults', { kind: 'churn-ids', route: '/transactions', times: 2 });
    const churn1 = await get(path, h, '/v1/accounts/{account-id}/transactions');
    const churn2 = await get(path, h);
    expect(churn1.body.transactions.booked[0].transactionId).not.toBe(churn2.body.transactions.booked[0].transactionId);
    expect(churn1.body.transactions.booked[0].transactionAmount).toEqual(churn2.body.transactions.booked[0].transactionAmount);
  });

  it('adds a pending transaction and books it with a new amount and bank id through the control API', async () => {
    const id = await consent();
    const h = { 'consent-id': id, 'psu-ip-address': '192.0.2.5' };
    const accountId = (await get('/v1/accounts', h)).body.accounts[0].resourceId;
    const added = await run.control<{ transaction: { id: string } }>('POST', `/banks/nordlicht/accounts/${accountId}/transactions`, {
      amount: '-42.00',
      status: 'pending',
      counterpartyName: 'Café Central',
      remittance: 'Coffee',
    });
    expect(added.status).toBe(201);
    const txPath = `/v1/accounts/${accountId}/transactions?bookingStatus=both&dateFrom=2026-11-20`;
    const before = await get(txPath, h);
    expect(before.body.transactions.pending.some((t: { transactionId: string }) => t.transactionId === added.body.transaction.id)).toBe(true);

    const booked = await run.control('POST', `/banks/nordlicht/accounts/${accountId}/transactions/${added.body.transaction.id}/book`, {
      amount: '-43.50',
      newId: 'BOOKED-1',
    });
    expect(booked.status).toBe(200);
    const after = await get(txPath, h, '/v1/accounts/{account-id}/transactions');
    const entry = after.body.transactions.booked.find((t: { transactionId: string }) => t.transactionId === 'BOOKED-1');
    expect(entry.transactionAmount).toEqual({ currency: 'EUR', amount: '-43.50' });
    expect(after.body.transactions.pending.some((t: { transactionId: string }) => t.transactionId === added.body.transaction.id)).toBe(false);

    const invalid = await run.control('POST', `/banks/nordlicht/accounts/${accountId}/transactions`, { amount: 'lots' });
    expect(invalid.status).toBe(400);
  });

  it('settles payments on the schedule the control API sets', async () => {
    const set = await run.control('PUT', '/banks/nordlicht/payment-schedule', { acceptAfterSeconds: 10, settleAfterSeconds: 3600 });
    expect(set.body).toEqual({ acceptAfterSeconds: 10, settleAfterSeconds: 3600 });
    expect((await run.control('PUT', '/banks/nordlicht/payment-schedule', { acceptAfterSeconds: 10, settleAfterSeconds: 5 })).status).toBe(400);
    const res = await fetch(`${run.bank('nordlicht').pisBaseUrl}/v1/payments/sepa-credit-transfers`, {
      method: 'POST',
      headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', 'tpp-redirect-uri': run.callback },
      body: JSON.stringify({
        debtorAccount: { iban: 'FR7630006000011234567890189' },
        instructedAmount: { currency: 'EUR', amount: '5.00' },
        creditorAccount: { iban: 'DE89370400440532013000' },
        creditorName: 'Kiosk',
      }),
    });
    const created = (await res.json()) as { paymentId: string; _links: { scaRedirect: { href: string } } };
    const browser = new MiniBrowser();
    await browser.go(created._links.scaRedirect.href);
    await browser.authenticate('alice', '123456', run.callback);
    const status = async () => (await get(`/v1/payments/sepa-credit-transfers/${created.paymentId}/status`, {})).body.transactionStatus;
    expect(await status()).toBe('RCVD');
    await run.control('POST', '/banks/nordlicht/clock/advance', { seconds: 11 });
    expect(await status()).toBe('ACTC');
    await run.control('POST', '/banks/nordlicht/clock/advance', { hours: 1 });
    expect(await status()).toBe('ACSC');
  });

  it('lists the banks and the documented test users on a public index without secrets', async () => {
    const index = (await (await fetch(`${run.url}/sandbox`)).json()) as { banks: { id: string }[]; users: { username: string; otp: string }[] };
    expect(index.banks.map((b) => b.id)).toEqual(['nordlicht', 'brabant', 'rivage', 'thames']);
    expect(index.users.find((u) => u.username === 'alice')?.otp).toBe('123456');
    expect(JSON.stringify(index)).not.toContain(run.sandbox.clients.nordlicht.clientSecret);
  });

  it('approves a decoupled request through the control API, for the user the TPP named', async () => {
    const res = await fetch(`${run.bank('brabant').aisBaseUrl}/v1/consents`, {
      method: 'POST',
      headers: {
        'x-request-id': requestId(),
        'content-type': 'application/json',
        'psu-ip-address': '192.0.2.10',
        'psu-id': 'sme',
        'tpp-decoupled-preferred': 'true',
      },
      body: JSON.stringify({
        access: { allPsd2: 'allAccounts' },
        recurringIndicator: true,
        validUntil: '2027-01-01',
        frequencyPerDay: 4,
        combinedServiceIndicator: false,
      }),
    });
    const { consentId } = (await res.json()) as { consentId: string };
    const sessions = await run.control<{ sessions: { id: string }[] }>('GET', '/banks/brabant/sca-sessions?user=sme');
    const sid = sessions.body.sessions[0].id;
    expect((await run.control('POST', `/banks/brabant/sca-sessions/${sid}/approve`, { username: 'alice' })).status).toBe(409);
    const approved = await run.control<{ session: { outcome: string } }>('POST', `/banks/brabant/sca-sessions/${sid}/approve`, {});
    expect(approved.body.session.outcome).toBe('approved');
    expect((await run.control('POST', `/banks/brabant/sca-sessions/${sid}/reject`, {})).status).toBe(409);
    const status = await fetch(`${run.bank('brabant').aisBaseUrl}/v1/consents/${consentId}/status`, { headers: { 'x-request-id': requestId() } });
    expect(((await status.json()) as { consentStatus: string }).consentStatus).toBe('valid');
  });

  it('protects the control API with the admin token', async () => {
    const res = await fetch(`${run.url}/sandbox/control/banks`, { headers: { authorization: 'Bearer wrong' } });
    expect(res.status).toBe(401);
    const ok = await fetch(`${run.url}/sandbox/control/banks`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
  });

  it('moves each bank clock forward on its own and never back', async () => {
    const before = await run.control<{ now: string }>('GET', '/banks/nordlicht/clock');
    expect(Date.parse(before.body.now)).toBeGreaterThanOrEqual(TEST_NOW.getTime());
    const moved = await run.control<{ today: string }>('POST', '/banks/nordlicht/clock/advance', { days: 3 });
    expect(moved.body.today).toBe('2026-11-23');
    expect((await run.control<{ today: string }>('GET', '/banks/rivage/clock')).body.today).toBe('2026-11-20');
    expect((await run.control('POST', '/banks/nordlicht/clock/advance', { days: -1 })).status).toBe(400);
  });

  it('refuses wrong passwords and locked users, and locks a user for the day after three wrong codes', async () => {
    const start = async () => {
      const res = await fetch(`${base()}/v1/consents`, {
        method: 'POST',
        headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', 'tpp-redirect-uri': run.callback },
        body: JSON.stringify({
          access: { allPsd2: 'allAccounts' },
          recurringIndicator: false,
          validUntil: '2027-01-01',
          frequencyPerDay: 1,
          combinedServiceIndicator: false,
        }),
      });
      const body = (await res.json()) as { consentId: string; _links: { scaRedirect: { href: string } } };
      const browser = new MiniBrowser();
      await browser.go(body._links.scaRedirect.href);
      return { browser, consentId: body.consentId };
    };
    const { browser } = await start();
    // A code posted before logging in only shows the login page again.
    await browser.go(`${browser.url}/code`, { method: 'POST', form: { code: '123456', action: 'approve' } });
    expect(browser.html).toContain('id="password"');
    await browser.submit({ username: 'alice', password: 'nope', action: 'login' });
    expect(browser.text('error')).toBe('Wrong username or password.');
    await browser.submit({ username: 'wrong-password', password: 'sandbox', action: 'login' });
    expect(browser.text('error')).toBe('Wrong username or password.');
    await browser.submit({ username: 'locked', password: 'sandbox', action: 'login' });
    expect(browser.text('error')).toContain('locked');

    await browser.submit({ username: 'alice', password: 'sandbox', action: 'login' });
    expect(browser.html).toContain('the code for alice is <code>123456</code>');
    await browser.submit({ code: '000001', action: 'approve' });
    expect(browser.text('error')).toContain('2 attempts left');
    await browser.submit({ code: '000002', action: 'approve' });
    await browser.submit({ code: '000003', action: 'approve' });
    expect(browser.text('outcome')).toBe('Three wrong codes were entered: this user is locked for the rest of the day.');

    const again = await start();
    await again.browser.submit({ username: 'alice', password: 'sandbox', action: 'login' });
    expect(again.browser.text('error')).toContain('locked for the rest of the day');
    await run.control('POST', '/banks/nordlicht/clock/advance', { days: 1 });
    // The next day (in a new SCA session: the old one has timed out) alice may log in again.
    const tomorrow = await start();
    await tomorrow.browser.submit({ username: 'alice', password: 'sandbox', action: 'login' });
    expect(tomorrow.browser.html).toContain('the code for alice is <code>123456</code>');
  });

  it('expires the one-time code after five minutes on the bank clock and sends a new one', async () => {
    const res = await fetch(`${base()}/v1/consents`, {
      method: 'POST',
      headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', 'tpp-redirect-uri': run.callback },
      body: JSON.stringify({
        access: { allPsd2: 'allAccounts' },
        recurringIndicator: false,
        validUntil: '2027-01-01',
        frequencyPerDay: 1,
        combinedServiceIndicator: false,
      }),
    });
    const body = (await res.json()) as { _links: { scaRedirect: { href: string } } };
    const browser = new MiniBrowser();
    await browser.go(body._links.scaRedirect.href);
    await browser.submit({ username: 'alice', password: 'sandbox', action: 'login' });
    await run.control('POST', '/banks/nordlicht/clock/advance', { minutes: 6 });
    await browser.submit({ code: '123456', action: 'approve' });
    expect(browser.text('error')).toContain('expired');
    expect(await browser.submit({ code: '123456', action: 'approve' }, run.callback)).toBe(run.callback);
  });

  it('ends with an OAuth error and a rejected consent for the rejecting and the timing-out users', async () => {
    const config = await oauthClient(run, 'nordlicht');
    for (const [username, code, status] of [
      ['rejecter', '456789', 'rejected'],
      ['timeout', '567890', 'rejected'],
    ] as const) {
      const created = await fetch(`${base()}/v1/consents`, {
        method: 'POST',
        headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10' },
        body: JSON.stringify({
          access: { allPsd2: 'allAccounts' },
          recurringIndicator: true,
          validUntil: '2027-01-01',
          frequencyPerDay: 4,
          combinedServiceIndicator: false,
        }),
      });
      const { consentId } = (await created.json()) as { consentId: string };
      await expect(authorizeWithOAuth(run, config, { scope: `AIS:${consentId}` }, { username, code })).rejects.toThrow(/access_denied/);
      expect((await get(`/v1/consents/${consentId}/status`, {})).body.consentStatus).toBe(status);
    }
  });
});

describe('seeded data', () => {
  it('is identical for the same seed and start, and differs for another seed', async () => {
    const other = await startSandbox({ seed: 7 });
    const third = await startSandbox({ seed: 8 });
    try {
      const list = async (r: Running) =>
        (await r.control<{ accounts: { id: string; iban: string; transactionCount: number }[] }>('GET', '/banks/nordlicht/users/alice/accounts')).body.accounts;
      const a = await list(run);
      expect(await list(other)).toEqual(a);
      expect((await list(third)).map((x) => x.iban)).not.toEqual(a.map((x) => x.iban));
      // Two years: hundreds of entries on the checking account, monthly ones on the savings account.
      expect(a.map((x) => x.transactionCount).every((n) => n > 20)).toBe(true);
      expect(a[0].transactionCount).toBeGreaterThan(300);
    } finally {
      await other.close();
      await third.close();
    }
  });
});
