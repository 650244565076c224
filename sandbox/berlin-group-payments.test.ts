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

async function bg(bankId: string, method: string, template: string, path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}) {
  const res = await fetch(`${run.bank(bankId).pisBaseUrl}${path}`, {
    method,
    headers: { 'x-request-id': requestId(), ...(opts.body ? { 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10' } : {}), ...opts.headers },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  if (body !== undefined && res.status < 500) spec.assert(method, template, res.status, body);
  return { status: res.status, body, headers: res.headers };
}

const transfer = (over: Record<string, unknown> = {}) => ({
  endToEndIdentification: 'E2E-PAY-1',
  debtorAccount: { iban: 'DE89370400440532013000' },
  instructedAmount: { currency: 'EUR', amount: '123.45' },
  creditorAccount: { iban: 'FR7630006000011234567890189' },
  creditorName: 'Boulangerie Martin',
  remittanceInformationUnstructured: 'Invoice 2026-0042',
  ...over,
});

async function redirectPayment(product: string, body: unknown, user = { username: 'alice', code: '123456' }) {
  const created = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', `/v1/payments/${product}`, {
    body,
    headers: { 'tpp-redirect-uri': run.callback, 'psu-ip-address': '192.0.2.7' },
  });
  expect(created.status).toBe(201);
  const browser = new MiniBrowser();
  await browser.go(created.body._links.scaRedirect.href);
  const redirect = await browser.authenticate(user.username, user.code, run.callback);
  return { id: created.body.paymentId as string, created, redirect };
}

describe('Berlin Group payments (sepa-credit-transfers, instant-sepa-credit-transfers)', () => {
  it('initiates a SEPA credit transfer with redirect SCA and moves RCVD → ACTC → ACSC on the bank clock', async () => {
    const created = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', '/v1/payments/sepa-credit-transfers', {
      body: transfer(),
      headers: { 'tpp-redirect-uri': run.callback },
    });
    expect(created.body.transactionStatus).toBe('RCVD');
    const id = created.body.paymentId;
    const before = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${id}/status`,
    );
    expect(before.body.transactionStatus).toBe('RCVD');
    const browser = new MiniBrowser();
    await browser.go(created.body._links.scaRedirect.href);
    expect(browser.text('summary')).toBe('Pay 123.45 EUR to Boulangerie Martin.');
    expect(await browser.authenticate('alice', '123456', run.callback)).toBe(run.callback);
    const accepted = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${id}/status`,
    );
    expect(accepted.body.transactionStatus).toBe('ACTC');
    await run.control('POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
    const settled = await bg('nordlicht', 'GET', '/v1/{payment-service}/{payment-product}/{paymentId}', `/v1/payments/sepa-credit-transfers/${id}`);
    expect(settled.body.transactionStatus).toBe('ACSC');
    expect(settled.body.instructedAmount).toEqual({ currency: 'EUR', amount: '123.45' });
    const auths = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/authorisations',
      `/v1/payments/sepa-credit-transfers/${id}/authorisations`,
    );
    const sca = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/authorisations/{authorisationId}',
      `/v1/payments/sepa-credit-transfers/${id}/authorisations/${auths.body.authorisationIds[0]}`,
    );
    expect(sca.body.scaStatus).toBe('finalised');
  });

  it('answers the same payment to the same X-Request-ID and body, refuses that id with another body, and lists payments on the control API', async () => {
    const count = async () => (await run.control<{ payments: unknown[] }>('GET', '/banks/brabant/payments')).body.payments.length;
    const before = await count();
    const id = requestId();
    const headers = { 'x-request-id': id, 'tpp-redirect-uri': run.callback };
    const path = '/v1/payments/sepa-credit-transfers';
    const first = await bg('brabant', 'POST', '/v1/{payment-service}/{payment-product}', path, { body: transfer({ creditorName: 'Once Only' }), headers });
    const again = await bg('brabant', 'POST', '/v1/{payment-service}/{payment-product}', path, { body: transfer({ creditorName: 'Once Only' }), headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const other = await bg('brabant', 'POST', '/v1/{payment-service}/{payment-product}', path, { body: transfer({ creditorName: 'Someone Else' }), headers });
    expect(other.status).toBe(400);
    expect(other.body.tppMessages[0].code).toBe('FORMAT_ERROR');
    expect(await count()).toBe(before + 1);
    const listed = await run.control<{ payments: Record<string, unknown>[] }>('GET', '/banks/brabant/payments');
    expect(listed.body.payments.at(-1)).toMatchObject({
      id: first.body.paymentId,
      product: 'sepa-credit-transfers',
      status: 'RCVD',
      amount: { amount: '123.45', currency: 'EUR' },
      creditor: { name: 'Once Only', iban: 'FR7630006000011234567890189' },
    });
    expect(Date.parse(String(listed.body.payments.at(-1)!.created))).not.toBeNaN();
  });

  it('gives the ISO reason of a rejection as a tppMessages warning on the status', async () => {
    const rejected = await redirectPayment('sepa-credit-transfers', transfer(), { username: 'rejecter', code: '456789' });
    const status = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${rejected.id}/status`,
    );
    expect(status.body).toMatchObject({ transactionStatus: 'RJCT', tppMessages: [{ category: 'WARNING', code: 'DS02' }] });
    const listed = await run.control<{ payments: Record<string, unknown>[] }>('GET', '/banks/nordlicht/payments');
    expect(listed.body.payments.find((p) => p.id === rejected.id)).toMatchObject({ status: 'RJCT', reasonCode: 'DS02' });
  });

  it('authorises an instant transfer through OAuth SCA with the PIS:<paymentId> scope', async () => {
    const created = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', '/v1/payments/instant-sepa-credit-transfers', {
      body: transfer(),
    });
    expect(created.body._links.scaOAuth).toBeDefined();
    const config = await oauthClient(run, 'nordlicht');
    const { tokens } = await authorizeWithOAuth(run, config, { scope: `PIS:${created.body.paymentId}` }, { username: 'alice', code: '123456' });
    const status = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/instant-sepa-credit-transfers/${created.body.paymentId}/status`,
      { headers: { authorization: `Bearer ${tokens.access_token}` } },
    );
    expect(status.body.transactionStatus).toBe('ACTC');
  });

  it('rejects the magic amount 666.00 at authorisation and a creditor named "Reject…" at settlement', async () => {
    const poor = await redirectPayment('sepa-credit-transfers', transfer({ instructedAmount: { currency: 'EUR', amount: '666.00' } }));
    const s1 = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${poor.id}/status`,
    );
    expect(s1.body.transactionStatus).toBe('RJCT');

    const closed = await redirectPayment('sepa-credit-transfers', transfer({ creditorName: 'Reject Holdings' }));
    const s2 = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${closed.id}/status`,
    );
    expect(s2.body.transactionStatus).toBe('ACTC');
    await run.control('POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
    const s3 = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${closed.id}/status`,
    );
    expect(s3.body.transactionStatus).toBe('RJCT');

    const declined = await redirectPayment('sepa-credit-transfers', transfer(), { username: 'rejecter', code: '456789' });
    expect(declined.redirect).toBe(`${run.callback}?error=access_denied`);
    const s4 = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${declined.id}/status`,
    );
    expect(s4.body.transactionStatus).toBe('RJCT');
  });

  it('starts a payment authorisation explicitly while the payment waits for one, and refuses once it is authorised', async () => {
    const created = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', '/v1/payments/sepa-credit-transfers', {
      body: transfer(),
      headers: { 'tpp-redirect-uri': run.callback },
    });
    const id = created.body.paymentId as string;
    const started = await bg(
      'nordlicht',
      'POST',
      '/v1/{payment-service}/{payment-product}/{paymentId}/authorisations',
      `/v1/payments/sepa-credit-transfers/${id}/authorisations`,
      { body: {} },
    );
    expect(started.status).toBe(201);
    expect(started.body.scaStatus).toBe('received');
    const browser = new MiniBrowser();
    await browser.go(started.body._links.scaRedirect.href);
    expect(await browser.authenticate('alice', '123456', run.callback)).toBe(run.callback);
    const again = await bg(
      'nordlicht',
      'POST',
      '/v1/{payment-service}/{payment-product}/{paymentId}/authorisations',
      `/v1/payments/sepa-credit-transfers/${id}/authorisations`,
      { body: {} },
    );
    expect(again.status).toBe(409);
  });

  it('cancels an unauthorised payment and refuses to cancel a settled one', async () => {
    const created = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', '/v1/payments/sepa-credit-transfers', {
      body: transfer(),
      headers: { 'tpp-redirect-uri': run.callback },
    });
    const del = await fetch(`${run.bank('nordlicht').pisBaseUrl}/v1/payments/sepa-credit-transfers/${created.body.paymentId}`, {
      method: 'DELETE',
      headers: { 'x-request-id': requestId() },
    });
    expect(del.status).toBe(204);
    const status = await bg(
      'nordlicht',
      'GET',
      '/v1/{payment-service}/{payment-product}/{paymentId}/status',
      `/v1/payments/sepa-credit-transfers/${created.body.paymentId}/status`,
    );
    expect(status.body.transactionStatus).toBe('CANC');

    const paid = await redirectPayment('sepa-credit-transfers', transfer());
    await run.control('POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
    const refused = await bg('nordlicht', 'DELETE', '/v1/{payment-service}/{payment-product}/{paymentId}', `/v1/payments/sepa-credit-transfers/${paid.id}`);
    expect(refused.status).toBe(405);
    expect(refused.body.tppMessages[0].code).toBe('CANCELLATION_INVALID');
  });

  it('asks the PSU to authorise the cancellation of a "cancel-sca" payment (202), cancels it once approved and leaves it when declined', async () => {
    const future = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    const base = '/v1/{payment-service}/{payment-product}/{paymentId}';
    for (const decision of ['approve', 'decline'] as const) {
      const { id } = await redirectPayment('sepa-credit-transfers', transfer({ creditorName: 'Studio cancel-sca', requestedExecutionDate: future }));
      const path = `/v1/payments/sepa-credit-transfers/${id}`;
      const del = await bg('nordlicht', 'DELETE', base, path);
      expect(del.status).toBe(202);
      expect(del.body._links.startAuthorisation.href).toBe(`${run.bank('nordlicht').pisBaseUrl}${path}/cancellation-authorisations`);
      // The redirect needs somewhere to send the PSU back to.
      const bare = await bg('nordlicht', 'POST', `${base}/cancellation-authorisations`, `${path}/cancellation-authorisations`, { body: {} });
      expect(bare.status).toBe(400);
      expect(bare.body.tppMessages[0]).toMatchObject({ code: 'FORMAT_ERROR', path: 'TPP-Redirect-URI' });
      const started = await bg('nordlicht', 'POST', `${base}/cancellation-authorisations`, `${path}/cancellation-authorisations`, {
        body: {},
        headers: { 'tpp-redirect-uri': `${run.callback}?ok=1`, 'tpp-nok-redirect-uri': `${run.callback}?nok=1` },
      });
      expect(started.status).toBe(201);
      expect(started.body.scaStatus).toBe('received');
      const statusPath = `${path}/cancellation-authorisations/${started.body.authorisationId}`;
      expect(started.body._links.scaStatus.href).toBe(`${run.bank('nordlicht').pisBaseUrl}${statusPath}`);
      const listed = await bg('nordlicht', 'GET', `${base}/cancellation-authorisations`, `${path}/cancellation-authorisations`);
      expect(listed.body.authorisationIds).toContain(started.body.authorisationId);

      const browser = new MiniBrowser();
      await browser.go(started.body._links.scaRedirect.href);
      expect(browser.text('summary')).toBe('Cancel the payment of 123.45 EUR to Studio cancel-sca.');
      const back =
        decision === 'approve' ? await browser.authenticate('alice', '123456', run.callback) : await browser.submit({ action: 'cancel' }, run.callback);
      expect(new URL(back!).searchParams.has(decision === 'approve' ? 'ok' : 'nok')).toBe(true);
      const sca = await bg('nordlicht', 'GET', `${base}/cancellation-authorisations/{authorisationId}`, statusPath);
      expect(sca.body.scaStatus).toBe(decision === 'approve' ? 'finalised' : 'failed');
      const status = await bg('nordlicht', 'GET', `${base}/status`, `${path}/status`);
      expect(status.body.transactionStatus).toBe(decision === 'approve' ? 'CANC' : 'ACTC');
    }
    const unknown = await bg(
      'nordlicht',
      'GET',
      `${base}/cancellation-authorisations/{authorisationId}`,
      `/v1/payments/sepa-credit-transfers/${(await redirectPayment('sepa-credit-transfers', transfer())).id}/cancellation-authorisations/nope`,
    );
    expect(unknown.status).toBe(403);
  });

  it('refuses a bad creditor IBAN, an unknown product and a missing amount with FORMAT_ERROR-family codes', async () => {
    const badIban = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', '/v1/payments/sepa-credit-transfers', {
      body: transfer({ creditorAccount: { iban: 'FR7630006000011234567890180' } }),
    });
    expect(badIban.status).toBe(400);
    expect(badIban.body.tppMessages[0]).toMatchObject({ code: 'FORMAT_ERROR', path: 'creditorAccount.iban' });
    const badAmount = await bg('nordlicht', 'POST', '/v1/{payment-service}/{payment-product}', '/v1/payments/sepa-credit-transfers', {
      body: transfer({ instructedAmount: { currency: 'EUR', amount: '1.234' } }),
    });
    expect(badAmount.status).toBe(400);
    const product = await fetch(`${run.bank('nordlicht').pisBaseUrl}/v1/payments/cross-border-credit-transfers`, {
      method: 'POST',
      headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10' },
      body: JSON.stringify(transfer()),
    });
    expect(product.status).toBe(404);
  });
});

describe('decoupled Berlin Group bank (Banque Brabant)', () => {
  it('lets the PSU approve the consent in the bank app while the TPP polls the status', async () => {
    const base = run.bank('brabant').aisBaseUrl;
    const res = await fetch(`${base}/v1/consents`, {
      method: 'POST',
      headers: {
        'x-request-id': requestId(),
        'content-type': 'application/json',
        'psu-ip-address': '192.0.2.10',
        'psu-id': 'alice',
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
    const created = await res.json();
    spec.assert('POST', '/v1/consents', res.status, created);
    expect(res.headers.get('aspsp-sca-approach')).toBe('DECOUPLED');
    expect(created.psuMessage).toContain('app');
    expect(created._links.scaRedirect).toBeUndefined();
    const poll = async () => {
      const s = await fetch(`${base}/v1/consents/${created.consentId}/status`, { headers: { 'x-request-id': requestId() } });
      return ((await s.json()) as { consentStatus: string }).consentStatus;
    };
    expect(await poll()).toBe('received');

    // The PSU opens the bank app, sees the waiting request and approves it.
    const app = new MiniBrowser();
    await app.go(`${run.url}/sandbox/banks/brabant/sca/app?user=alice`);
    const link = /<a href="([^"]+)">/.exec(app.html)?.[1];
    expect(link).toBeDefined();
    await app.go(new URL(link!, run.url).toString());
    expect(await app.authenticate('alice', '123456', run.callback)).toBeUndefined();
    expect(app.text('outcome')).toContain('approved');

    expect(await poll()).toBe('valid');
    const scaStatus = await fetch(created._links.scaStatus.href, { headers: { 'x-request-id': requestId() } });
    expect(((await scaStatus.json()) as { scaStatus: string }).scaStatus).toBe('finalised');
    const accounts = await fetch(`${base}/v1/accounts`, { headers: { 'x-request-id': requestId(), 'consent-id': created.consentId } });
    const body = await accounts.json();
    spec.assert('GET', '/v1/accounts', accounts.status, body);
    expect(body.accounts[0].iban).toMatch(/^BE\d{14}$/);
  });

  it('fails a decoupled payment when the SCA times out in the bank app', async () => {
    const res = await fetch(`${run.bank('brabant').pisBaseUrl}/v1/payments/sepa-credit-transfers`, {
      method: 'POST',
      headers: {
        'x-request-id': requestId(),
        'content-type': 'application/json',
        'psu-ip-address': '192.0.2.10',
        'psu-id': 'timeout',
        'tpp-decoupled-preferred': 'true',
      },
      body: JSON.stringify(transfer()),
    });
    const created = (await res.json()) as { paymentId: string; _links: { scaStatus: { href: string } } };
    spec.assert('POST', '/v1/{payment-service}/{payment-product}', res.status, created);
    const sessions = await run.control<{ sessions: { url: string; mode: string }[] }>('GET', '/banks/brabant/sca-sessions?user=timeout');
    expect(sessions.body.sessions).toHaveLength(1);
    expect(sessions.body.sessions[0].mode).toBe('decoupled');
    const app = new MiniBrowser();
    await app.go(sessions.body.sessions[0].url);
    // Someone else cannot approve it.
    await app.submit({ username: 'alice', password: 'sandbox', action: 'login' });
    expect(app.text('error')).toBe('This request was made for another user.');
    await app.authenticate('timeout', '567890', run.callback);
    expect(app.text('outcome')).toBe('The authentication timed out.');
    const sca = (await (await fetch(created._links.scaStatus.href, { headers: { 'x-request-id': requestId() } })).json()) as { scaStatus: string };
    spec.assert('GET', '/v1/{payment-service}/{payment-product}/{paymentId}/authorisations/{authorisationId}', 200, sca);
    expect(sca.scaStatus).toBe('failed');
    const status = await fetch(`${run.bank('brabant').pisBaseUrl}/v1/payments/sepa-credit-transfers/${created.paymentId}/status`, {
      headers: { 'x-request-id': requestId() },
    });
    expect(((await status.json()) as { transactionStatus: string }).transactionStatus).toBe('RJCT');
  });

  it('fails a decoupled consent nobody approves within 15 minutes on the bank clock', async () => {
    const base = run.bank('brabant').aisBaseUrl;
    const res = await fetch(`${base}/v1/consents`, {
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
    const created = (await res.json()) as { consentId: string; _links: { scaStatus: { href: string } } };
    await run.control('POST', '/banks/brabant/clock/advance', { minutes: 16 });
    const status = await fetch(`${base}/v1/consents/${created.consentId}/status`, { headers: { 'x-request-id': requestId() } });
    expect(((await status.json()) as { consentStatus: string }).consentStatus).toBe('rejected');
    const sca = await fetch(created._links.scaStatus.href, { headers: { 'x-request-id': requestId() } });
    expect(((await sca.json()) as { scaStatus: string }).scaStatus).toBe('failed');
    const sessions = await run.control<{ sessions: { url: string }[] }>('GET', '/banks/brabant/sca-sessions?user=sme');
    const app = new MiniBrowser();
    await app.go(sessions.body.sessions[0].url);
    expect(app.text('outcome')).toBe('This authentication request has expired or failed.');
  });

  it('requires PSU-ID for the decoupled approach', async () => {
    const res = await fetch(`${run.bank('brabant').aisBaseUrl}/v1/consents`, {
      method: 'POST',
      headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', 'tpp-decoupled-preferred': 'true' },
      body: JSON.stringify({
        access: { allPsd2: 'allAccounts' },
        recurringIndicator: true,
        validUntil: '2027-01-01',
        frequencyPerDay: 4,
        combinedServiceIndicator: false,
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { tppMessages: { code: string; path: string }[] }).tppMessages[0]).toMatchObject({ code: 'FORMAT_ERROR', path: 'PSU-ID' });
  });
});
