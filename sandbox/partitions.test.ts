import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionName } from './index';
import { ADMIN_TOKEN, requestId, startSandbox, TEST_NOW, type Running } from './testing/harness';

let run: Running;
beforeAll(async () => {
  run = await startSandbox({ maxPartitions: 2 });
});
afterAll(async () => {
  await run?.close();
});

const name = (label: string) => partitionName(ADMIN_TOKEN, label);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever JSON the server sent
async function control<T = Record<string, any>>(partition: string | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${run.url}/sandbox${partition ? `/t/${partition}` : ''}/control${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

const clockOf = async (partition: string | null) => (await control<{ now: string }>(partition, 'GET', '/banks/nordlicht/clock')).body.now;

describe('sandbox partitions', () => {
  it('serves every bank again under /t/<partition>, its OAuth issuer and links included', async () => {
    const p = name('tenant-a');
    const banks = (await control<{ banks: { id: string; issuer: string; aisBaseUrl: string }[] }>(p, 'GET', '/banks')).body.banks;
    // The banks themselves (the upstream aggregator's institutions are served by its own API, not the control API).
    expect(banks.map((b) => b.id).sort()).toEqual(
      run.sandbox.banks
        .filter((b) => b.standard !== 'GOCARDLESS')
        .map((b) => b.id)
        .sort(),
    );
    const nordlicht = banks.find((b) => b.id === 'nordlicht')!;
    expect(nordlicht.issuer).toBe(`${run.url}/sandbox/t/${p}/banks/nordlicht/oauth`);
    const discovery = (await (await fetch(`${nordlicht.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; token_endpoint: string };
    expect(discovery.issuer).toBe(nordlicht.issuer);
    expect(discovery.token_endpoint.startsWith(`${run.url}/sandbox/t/${p}/banks/nordlicht/`)).toBe(true);
    const consent = await fetch(`${nordlicht.aisBaseUrl}/v1/consents`, {
      method: 'POST',
      headers: { 'x-request-id': requestId(), 'content-type': 'application/json', 'tpp-redirect-uri': run.callback, 'psu-ip-address': '192.0.2.10' },
      body: JSON.stringify({
        access: { allPsd2: 'allAccounts' },
        recurringIndicator: true,
        validUntil: '2027-05-01',
        frequencyPerDay: 4,
        combinedServiceIndicator: false,
      }),
    });
    expect(consent.status, await consent.clone().text()).toBe(201);
    const created = (await consent.json()) as { consentId: string; _links: { scaRedirect: { href: string } } };
    expect(created._links.scaRedirect.href.startsWith(`${run.url}/sandbox/t/${p}/banks/nordlicht/`)).toBe(true);
    // The consent lives in this partition only.
    expect((await control(p, 'GET', `/banks/nordlicht/consents/${created.consentId}`)).status).toBe(200);
    expect((await control(null, 'GET', `/banks/nordlicht/consents/${created.consentId}`)).status).toBe(404);
  });

  it('runs a partition made later on the same timeline as the default banks', async () => {
    const [root, fresh] = await Promise.all([clockOf(null), clockOf(name('late-comer'))]);
    expect(Math.abs(Date.parse(root) - Date.parse(fresh))).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(Date.parse(await clockOf(null)) - TEST_NOW.getTime()).toBeGreaterThan(1_000);
  });

  it('keeps faults, clocks and resets of one partition away from the others and from the default banks', async () => {
    const a = name('tenant-a');
    const b = name('tenant-b');
    await control(b, 'PUT', '/banks/nordlicht/faults', { faults: [{ kind: 'status', status: 503 }] });
    await control(b, 'POST', '/banks/nordlicht/clock/advance', { days: 3 });
    expect((await control(b, 'GET', '/banks/nordlicht/faults')).body.faults).toHaveLength(1);
    expect((await control(a, 'GET', '/banks/nordlicht/faults')).body.faults).toEqual([]);
    expect((await control(null, 'GET', '/banks/nordlicht/faults')).body.faults).toEqual([]);
    expect(await clockOf(a)).not.toBe(await clockOf(b));
    const bankOfA = (await control<{ banks: { id: string; aisBaseUrl: string }[] }>(a, 'GET', '/banks')).body.banks.find((x) => x.id === 'nordlicht')!;
    const res = await fetch(`${bankOfA.aisBaseUrl}/v1/consents/unknown`, { headers: { 'x-request-id': requestId() } });
    expect(res.status).not.toBe(503);

    await control(a, 'POST', '/banks/nordlicht/clock/advance', { days: 1 });
    const aBefore = await clockOf(a);
    expect((await control(b, 'POST', '/reset')).body).toEqual({ reset: expect.arrayContaining(['nordlicht']) });
    // tenant-a's clock kept running from where it was (a reset would have taken it back a day).
    expect(Date.parse(await clockOf(a))).toBeGreaterThanOrEqual(Date.parse(aBefore));
    expect((await control(b, 'GET', '/banks/nordlicht/faults')).body.faults).toEqual([]);
    expect(Date.parse(await clockOf(b))).toBeLessThan(Date.parse(aBefore));
  });

  it('refuses partition names not made with the admin token, and creates nothing for them', async () => {
    for (const bad of ['tenant-a', `tenant-a.${'A'.repeat(22)}`, `${name('tenant-a')}x`, `other.${name('tenant-a').split('.')[1]}`]) {
      const res = await fetch(`${run.url}/sandbox/t/${bad}/banks/nordlicht/oauth/.well-known/openid-configuration`);
      expect(res.status, bad).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PARTITION_NOT_FOUND');
    }
  });

  it('holds at most maxPartitions and drops the least recently used, which comes back seeded', async () => {
    const a = name('tenant-a');
    await control(a, 'POST', '/banks/nordlicht/clock/advance', { days: 10 });
    expect(Date.parse(await clockOf(a)) - TEST_NOW.getTime()).toBeGreaterThan(10 * 86_400_000);
    // tenant-b is used last, then a third partition pushes tenant-a (least recently used) out.
    await clockOf(name('tenant-b'));
    await clockOf(name('tenant-c'));
    expect(Date.parse(await clockOf(a)) - TEST_NOW.getTime()).toBeLessThan(86_400_000);
  });
});
