import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertStet } from './testing/stet-schemas';
import { authorizeWithOAuth, MiniBrowser, oauthClient, requestId, startSandbox, type Running } from './testing/harness';

let run: Running;
let config: oidc.Configuration;
beforeAll(async () => {
  run = await startSandbox();
  config = await oauthClient(run, 'rivage');
});
afterAll(async () => {
  await run?.close();
});

async function stet(method: string, path: string, token: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(path.startsWith('http') ? path : `${run.bank('rivage').aisBaseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId(), ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: opts.body ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** The pain.001-like fields STET 1.6 requires of every payment request. */
const pain001 = {
  paymentInformationId: 'PMT-T',
  creationDateTime: '2026-11-20T10:00:00.000+01:00',
  numberOfTransactions: 1,
  initiatingParty: { name: 'Passerelle' },
  paymentTypeInformation: { serviceLevel: 'SEPA' },
};

describe('STET bank (Banque du Rivage, STET 1.6)', () => {
  it('runs the AISP authorisation code flow, PUT /consents and reads HAL accounts, balances and paged transactions', async () => {
    const { tokens } = await authorizeWithOAuth(run, config, { scope: 'aisp extended_transaction_history' }, { username: 'alice', code: '123456' });
    const at = tokens.access_token;
    const accounts = await stet('GET', '/accounts', at, { headers: { 'psu-ip-address': '192.0.2.3' } });
    expect(accounts.status).toBe(200);
    expect(accounts.headers.get('content-type')).toContain('application/hal+json');
    assertStet('accounts', accounts.body);
    expect(accounts.body.accounts).toHaveLength(3);
    const [checking, savings] = accounts.body.accounts as { resourceId: string; accountId: { iban: string } }[];
    expect(checking.accountId.iban).toMatch(/^FR\d{12}[A-Z0-9]{11}\d{2}$/);

    const put = await stet('PUT', '/consents', at, {
      body: { balances: [checking.accountId], transactions: [checking.accountId], psuIdentity: true, trustedBeneficiaries: false },
    });
    expect(put.status).toBe(201);

    const balances = await stet('GET', `/accounts/${checking.resourceId}/balances`, at);
    assertStet('balances', balances.body);
    expect(balances.body.balances.map((b: { balanceType: string }) => b.balanceType)).toEqual(['CLBD', 'XPCD']);
    const refused = await stet('GET', `/accounts/${savings.resourceId}/balances`, at);
    expect(refused.status).toBe(403);
    assertStet('error', refused.body);
    expect(refused.body.error).toBe('CONSENT_INVALID');

    // dateTo is exclusive in STET.
    const october = await stet('GET', `/accounts/${checking.resourceId}/transactions?dateFrom=2026-10-01&dateTo=2026-11-01`, at);
    assertStet('transactions', october.body);
    for (const t of october.body.transactions) {
      expect(t.creditDebitIndicator === 'DBIT' || t.creditDebitIndicator === 'CRDT').toBe(true);
      if (t.bookingDate) expect(t.bookingDate < '2026-11-01' && t.bookingDate >= '2026-10-01').toBe(true);
    }
    let next: string | undefined = `${run.bank('rivage').aisBaseUrl}/accounts/${checking.resourceId}/transactions`;
    const statuses = new Set<string>();
    let pages = 0;
    while (next) {
      const page = await stet('GET', next, at);
      assertStet('transactions', page.body);
      for (const t of page.body.transactions) statuses.add(t.status);
      next = page.body._links.next?.href;
      pages += 1;
    }
    expect(pages).toBeGreaterThan(2);
    expect([...statuses].sort()).toEqual(['BOOK', 'PDNG']);
  });

  it('answers ACCESS_EXCEEDED past the daily budget and CONSENT_EXPIRED, in the STET error shape, and expires refresh tokens on the bank clock', async () => {
    const { tokens } = await authorizeWithOAuth(run, config, { scope: 'aisp' }, { username: 'sme', code: '234567' });
    for (let i = 0; i < 4; i++) expect((await stet('GET', '/accounts', tokens.access_token)).status).toBe(200);
    const exceeded = await stet('GET', '/accounts', tokens.access_token);
    expect(exceeded.status).toBe(429);
    assertStet('error', exceeded.body);
    expect(exceeded.body.error).toBe('ACCESS_EXCEEDED');
    expect(exceeded.headers.get('retry-after')).toBeTruthy();

    const consents = await run.control<{ consents: { id: string; userId: string }[] }>('GET', '/banks/rivage/consents');
    const consentId = consents.body.consents.find((c) => c.userId === 'sme')!.id;
    await run.control('POST', `/banks/rivage/consents/${consentId}/expire`);
    const expired = await stet('GET', '/accounts', tokens.access_token, { headers: { 'psu-ip-address': '192.0.2.3' } });
    expect(expired.status).toBe(401);
    assertStet('error', expired.body);
    expect(expired.body.error).toBe('CONSENT_EXPIRED');

    // 181 days later on the bank clock the refresh token (180 days) has expired as well.
    await run.control('POST', '/banks/rivage/clock/advance', { days: 181 });
    const stale = await stet('GET', '/accounts', tokens.access_token);
    expect(stale.body.error).toBe('EXPIRED_TOKEN');
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await run.control('POST', '/banks/rivage/reset');
  });

  it('answers missing X-Request-ID, a wrong token and a bad date with STET errors', async () => {
    const noId = await fetch(`${run.bank('rivage').aisBaseUrl}/accounts`, { headers: { authorization: 'Bearer x' } });
    expect(noId.status).toBe(400);
    const noIdBody = await noId.json();
    assertStet('error', noIdBody);
    expect((noIdBody as { error: string }).error).toBe('FORMAT_ERROR');
    const wrong = await stet('GET', '/accounts', 'not-a-token');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('INVALID_TOKEN');
    expect(wrong.headers.get('www-authenticate')).toContain('invalid_token');
    const { tokens } = await authorizeWithOAuth(run, config, { scope: 'aisp' }, { username: 'alice', code: '123456' });
    const accounts = await stet('GET', '/accounts', tokens.access_token, { headers: { 'psu-ip-address': '192.0.2.3' } });
    const badDate = await stet('GET', `/accounts/${accounts.body.accounts[0].resourceId}/transactions?dateFrom=2026-02-30`, tokens.access_token, {
      headers: { 'psu-ip-address': '192.0.2.3' },
    });
    expect(badDate.status).toBe(400);
    assertStet('error', badDate.body);
  });

  it('initiates a payment request, sends the PSU to _links.consentApproval and settles after confirmation', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'pisp' });
    const request = {
      paymentInformationId: 'PMT-1',
      creationDateTime: '2026-11-20T10:00:00.000+01:00',
      numberOfTransactions: 1,
      initiatingParty: { name: 'Passerelle' },
      paymentTypeInformation: { serviceLevel: 'SEPA', localInstrument: 'INST', categoryPurpose: 'DVPM' },
      beneficiary: { creditor: { name: 'Boulangerie Martin' }, creditorAccount: { iban: 'FR7630006000011234567890189' } },
      creditTransferTransaction: [
        {
          paymentId: { instructionId: 'I-1', endToEndId: 'E2E-1' },
          instructedAmount: { currency: 'EUR', amount: '12.40' },
          remittanceInformation: { unstructured: ['Croissants'] },
        },
      ],
      supplementaryData: {
        acceptedAuthenticationApproach: ['REDIRECT'],
        successfulReportUrl: `${run.callback}?pay=ok`,
        unsuccessfulReportUrl: `${run.callback}?pay=nok`,
      },
    };
    const created = await stet('POST', '/payment-requests', cc.access_token, { body: request });
    expect(created.status).toBe(201);
    assertStet('paymentRequestCreated', created.body);
    const location = created.headers.get('location')!;
    const browser = new MiniBrowser();
    await browser.go(created.body._links.consentApproval.href);
    expect(browser.text('summary')).toContain('12.40 EUR');
    expect(await browser.authenticate('alice', '123456', run.callback)).toBe(`${run.callback}?pay=ok`);

    const approved = await stet('GET', location, cc.access_token);
    assertStet('paymentRequest', approved.body);
    expect(approved.body.paymentRequest.paymentInformationStatus).toBe('ACCP');
    const confirmed = await stet('POST', `${location}/confirmation`, cc.access_token, { body: {} });
    assertStet('paymentRequest', confirmed.body);
    expect(confirmed.body.paymentRequest.paymentInformationStatus).toBe('ACTC');
    await run.control('POST', '/banks/rivage/clock/advance', { minutes: 2 });
    const settled = await stet('GET', location, cc.access_token);
    assertStet('paymentRequest', settled.body);
    expect(settled.body.paymentRequest.paymentInformationStatus).toBe('ACSC');
  });

  it('answers the same payment request to the same X-Request-ID and body, and refuses that id with another body', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'pisp' });
    const body = (name: string) => ({
      beneficiary: { creditor: { name }, creditorAccount: { iban: 'FR7630006000011234567890189' } },
      ...pain001,
      creditTransferTransaction: [{ paymentId: { instructionId: 'I-2', endToEndId: 'E2E-2' }, instructedAmount: { currency: 'EUR', amount: '12.00' } }],
      supplementaryData: { successfulReportUrl: `${run.callback}?pay=ok` },
    });
    const count = async () => (await run.control<{ payments: unknown[] }>('GET', '/banks/rivage/payments')).body.payments.length;
    const before = await count();
    const headers = { 'x-request-id': requestId() };
    const first = await stet('POST', '/payment-requests', cc.access_token, { body: body('Once Only'), headers });
    const again = await stet('POST', '/payment-requests', cc.access_token, { body: body('Once Only'), headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.body).toEqual(first.body);
    const other = await stet('POST', '/payment-requests', cc.access_token, { body: body('Someone Else'), headers });
    expect(other.status).toBe(400);
    assertStet('error', other.body);
    expect(other.body.error).toBe('DUPLICATE_REQUEST');
    expect(await count()).toBe(before + 1);
  });

  it('cancels a payment request sent back with RJCT/DS02 (PUT), and refuses other modifications and late cancellations', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'pisp' });
    const body = {
      beneficiary: { creditor: { name: 'Cancel Me' }, creditorAccount: { iban: 'FR7630006000011234567890189' } },
      ...pain001,
      creditTransferTransaction: [{ paymentId: { instructionId: 'I-3', endToEndId: 'E2E-3' }, instructedAmount: { currency: 'EUR', amount: '3.00' } }],
      supplementaryData: { successfulReportUrl: `${run.callback}?pay=ok` },
    };
    const created = await stet('POST', '/payment-requests', cc.access_token, { body });
    const location = created.headers.get('location')!;
    const read = await stet('GET', location, cc.access_token);
    const other = await stet('PUT', location, cc.access_token, {
      body: {
        ...read.body.paymentRequest,
        creditTransferTransaction: [{ paymentId: { instructionId: 'I-4', endToEndId: 'E2E-4' }, instructedAmount: { currency: 'EUR', amount: '4.00' } }],
      },
    });
    expect(other.status).toBe(400);
    assertStet('error', other.body);
    const cancelled = await stet('PUT', location, cc.access_token, {
      body: { ...read.body.paymentRequest, paymentInformationStatus: 'RJCT', statusReasonInformation: 'DS02' },
    });
    expect(cancelled.status).toBe(200);
    assertStet('paymentRequest', cancelled.body);
    expect(cancelled.body.paymentRequest).toMatchObject({ paymentInformationStatus: 'RJCT', statusReasonInformation: 'DS02' });
    const confirm = await stet('POST', `${location}/confirmation`, cc.access_token, { body: {} });
    expect(confirm.status).toBe(409);

    const late = await stet('POST', '/payment-requests', cc.access_token, { body });
    const lateLocation = late.headers.get('location')!;
    const browser = new MiniBrowser();
    await browser.go(late.body._links.consentApproval.href);
    await browser.authenticate('alice', '123456', run.callback);
    await stet('POST', `${lateLocation}/confirmation`, cc.access_token, { body: {} });
    const lateRead = await stet('GET', lateLocation, cc.access_token);
    const refused = await stet('PUT', lateLocation, cc.access_token, {
      body: { ...lateRead.body.paymentRequest, paymentInformationStatus: 'RJCT', statusReasonInformation: 'DS02' },
    });
    expect(refused.status).toBe(409);
    assertStet('error', refused.body);
    expect(refused.body.error).toBe('STATUS_INVALID');
  });

  it('rejects the magic amount 666.00 with RJCT/AM04 and bad IBANs with a STET error', async () => {
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'pisp' });
    const body = (amount: string, iban: string) => ({
      beneficiary: { creditor: { name: 'Someone' }, creditorAccount: { iban } },
      ...pain001,
      creditTransferTransaction: [{ paymentId: { instructionId: 'I-5', endToEndId: 'E2E-5' }, instructedAmount: { currency: 'EUR', amount } }],
      supplementaryData: { successfulReportUrl: `${run.callback}?pay=ok` },
    });
    const bad = await stet('POST', '/payment-requests', cc.access_token, { body: body('10.00', 'FR7630006000011234567890180') });
    expect(bad.status).toBe(400);
    assertStet('error', bad.body);
    const created = await stet('POST', '/payment-requests', cc.access_token, { body: body('666.00', 'FR7630006000011234567890189') });
    const browser = new MiniBrowser();
    await browser.go(created.body._links.consentApproval.href);
    await browser.authenticate('alice', '123456', run.callback);
    const status = await stet('GET', created.headers.get('location')!, cc.access_token);
    expect(status.body.paymentRequest.paymentInformationStatus).toBe('RJCT');
    expect(status.body.paymentRequest.statusReasonInformation).toBe('AM04');
  });
});
