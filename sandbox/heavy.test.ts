import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecValidator } from './testing/spec-validator';
import { MiniBrowser, requestId, startSandbox, type Running } from './testing/harness';

const spec = new SpecValidator('berlin-group-psd2-api-1.3.12.yaml');

let run: Running;
beforeAll(async () => {
  run = await startSandbox();
});
afterAll(async () => {
  await run?.close();
});

describe('the heavy account (100,000 transactions)', () => {
  it('pages through the whole history over HTTP with _links and answers date windows exactly', async () => {
    const base = run.bank('nordlicht').aisBaseUrl;
    const res = await fetch(`${base}/v1/consents`, {
      method: 'POST',
      headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'psu-ip-address': '192.0.2.10', 'tpp-redirect-uri': run.callback },
      body: JSON.stringify({
        access: { allPsd2: 'allAccounts' },
        recurringIndicator: true,
        validUntil: '2027-01-01',
        frequencyPerDay: 4,
        combinedServiceIndicator: false,
      }),
    });
    const created = (await res.json()) as { consentId: string; _links: { scaRedirect: { href: string } } };
    const browser = new MiniBrowser();
    await browser.go(created._links.scaRedirect.href);
    await browser.authenticate('heavy', '345678', run.callback);
    const h = { 'x-request-id': requestId(), 'consent-id': created.consentId, 'psu-ip-address': '192.0.2.9' };
    const accounts = (await (await fetch(`${base}/v1/accounts?withBalance=true`, { headers: h })).json()) as { accounts: { resourceId: string }[] };
    spec.assert('GET', '/v1/accounts', 200, accounts);
    const id = accounts.accounts[0].resourceId;

    const first = await fetch(`${base}/v1/accounts/${id}/transactions?bookingStatus=booked&dateFrom=2020-01-01`, { headers: h });
    const firstBody = (await first.json()) as { transactions: { booked: unknown[]; _links: { last: { href: string } } } };
    spec.assert('GET', '/v1/accounts/{account-id}/transactions', 200, firstBody);
    const lastHref = firstBody.transactions._links.last.href;
    const lastPage = Number(new URL(lastHref).searchParams.get('page'));
    const last = (await (await fetch(lastHref, { headers: h })).json()) as { transactions: { booked: unknown[]; _links: { next?: unknown } } };
    expect(last.transactions._links.next).toBeUndefined();
    expect(lastPage * 100 + last.transactions.booked.length).toBe(100_000);

    const day = (await (
      await fetch(`${base}/v1/accounts/${id}/transactions?bookingStatus=booked&dateFrom=2026-01-15&dateTo=2026-01-15`, { headers: h })
    ).json()) as {
      transactions: { booked: { bookingDate: string }[]; _links: { next?: { href: string } } };
    };
    // About 137 entries a day: a full first page and a second one.
    expect(day.transactions.booked).toHaveLength(100);
    const rest = (await (await fetch(day.transactions._links.next!.href, { headers: h })).json()) as { transactions: { booked: { bookingDate: string }[] } };
    expect(rest.transactions.booked.length).toBeGreaterThan(20);
    expect(rest.transactions.booked.every((t) => t.bookingDate === '2026-01-15')).toBe(true);
    expect(day.transactions.booked.every((t) => t.bookingDate === '2026-01-15')).toBe(true);
  });
});
