import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { accountState, connect, control, institutionGid, settled, type Connected } from '../helpers/banking';

type UserErrors = { field: string[]; code: string; message: string }[];

const FAULTS = `mutation($input: SandboxFaultSetInput!) { sandboxFaultSet(input: $input) { faults { id route } userErrors { field code message } } }`;
const CLOCK = `mutation($input: SandboxClockAdvanceInput!) { sandboxClockAdvance(input: $input) { today userErrors { field code message } } }`;
const RESET = `mutation($input: SandboxResetInput) { sandboxReset(input: $input) { institutionIds userErrors { field code message } } }`;
const EXPIRE = `mutation($input: SandboxConsentExpireInput!) { sandboxConsentExpire(input: $input) { consent { id } userErrors { field code message } } }`;
const CREATE_TX = `mutation($input: SandboxTransactionsCreateInput!) { sandboxTransactionsCreate(input: $input) { transactions { bankTransactionId } userErrors { field code message } } }`;
const SYNC = `mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "203.0.113.7" }) { account { syncStatus } userErrors { code message } } }`;

let t: TestGateway;
let a: { key: string; tenantId: string; connected: Connected };
let b: { key: string; tenantId: string; connected: Connected };

async function call<T>(query: string, input: unknown, key: string): Promise<T> {
  const r = await t.gql<Record<string, T>>(query, { input }, key);
  if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
  return Object.values(r.body.data)[0]!;
}

async function tenantAt(name: string, bank: string) {
  const { key, tenantId } = await t.createTenant(name);
  const r = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "psu" }) { endUser { id } } }',
    {},
    key,
  );
  const connected = await connect(t, key, r.body.data!.endUserCreate.endUser.id, bank);
  for (const acc of connected.accounts) await settled(t, key, acc.id);
  return { key, tenantId, connected };
}

/** Syncs an account now (end user present) and waits until it settles. */
async function syncNow(key: string, accountId: string) {
  const before = (await accountState(t, key, accountId)).lastSyncedAt;
  const r = await t.gql<{ accountSync: { userErrors: UserErrors } }>(SYNC, { id: accountId }, key);
  expect(r.body.data!.accountSync.userErrors).toEqual([]);
  return settled(t, key, accountId, before);
}

const consentStatus = async (key: string, id: string) =>
  (await t.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Consent { status } } }', { id }, key)).body.data!.node.status;

beforeAll(async () => {
  t = await startTestGateway();
  a = await tenantAt('Tenant A', 'nordlicht');
  b = await tenantAt('Tenant B', 'nordlicht');
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('each sandbox tenant has its own copy of the sandbox banks', () => {
  it('keeps tenant A’s syncs working while tenant B breaks its bank with faults, the clock, consent expiry and resets', async () => {
    const nordlicht = institutionGid('nordlicht');
    const aAccount = a.connected.accounts.find((x) => x.iban)!;
    const bAccount = b.connected.accounts.find((x) => x.iban)!;

    // B: every call to its Nordlicht fails, its clock is a year on, its consent expired.
    expect((await call<{ userErrors: UserErrors }>(FAULTS, { institutionId: nordlicht, faults: [{ kind: 'STATUS', status: 503 }] }, b.key)).userErrors).toEqual(
      [],
    );
    expect((await call<{ userErrors: UserErrors }>(CLOCK, { institutionId: nordlicht, days: 365 }, b.key)).userErrors).toEqual([]);
    expect((await call<{ userErrors: UserErrors }>(EXPIRE, { consentId: b.connected.consentId }, b.key)).userErrors).toEqual([]);
    // B's controls do reach B's bank: its sync fails.
    expect((await syncNow(b.key, bAccount.id)).syncStatus).not.toBe('SUCCEEDED');

    // A's bank saw none of it.
    expect(await control(t, 'GET', '/banks/nordlicht/faults', undefined, a.tenantId)).toEqual({ faults: [] });
    const aSync = await syncNow(a.key, aAccount.id);
    expect(aSync.syncStatus).toBe('SUCCEEDED');
    expect(await consentStatus(a.key, a.connected.consentId)).toBe('ACTIVE');

    // A's own sandbox data survives B resetting every bank of its sandbox.
    const added = await call<{ transactions: { bankTransactionId: string }[]; userErrors: UserErrors }>(
      CREATE_TX,
      { accountId: aAccount.id, transactions: [{ amount: '-4.20', bankTransactionId: 'a-only-1' }] },
      a.key,
    );
    expect(added.userErrors).toEqual([]);
    expect((await call<{ institutionIds: string[]; userErrors: UserErrors }>(RESET, null, b.key)).userErrors).toEqual([]);
    const ledger = await control<{ transactions: { id: string }[] }>(
      t,
      'GET',
      `/banks/nordlicht/accounts/${encodeURIComponent(aAccount.bankAccountId)}/ledger`,
      undefined,
      a.tenantId,
    );
    expect(ledger.transactions.map((x) => x.id)).toContain('a-only-1');
    expect((await syncNow(a.key, aAccount.id)).syncStatus).toBe('SUCCEEDED');
    // B's reset emptied B's fault list, and only B's.
    expect(await control(t, 'GET', '/banks/nordlicht/faults', undefined, b.tenantId)).toEqual({ faults: [] });
  }, 120_000);

  it('refuses a fault route that is not a path pattern', async () => {
    const r = await call<{ faults: unknown; userErrors: UserErrors }>(
      FAULTS,
      { institutionId: institutionGid('nordlicht'), faults: [{ kind: 'STATUS', route: '^/v1/[a-z]+$' }] },
      b.key,
    );
    expect(r.userErrors).toMatchObject([{ field: ['input', 'faults', '0', 'route'], code: 'INVALID' }]);
  });
});

describe('no sandbox work a tenant triggers holds the gateway', () => {
  /**
   * One round: probing alone (what this machine's load, GC and the probes cost), then the same
   * probing while a freshly connected tenant does the hostile things. Returns both longest
   * event-loop delays and the slowest probe answer during the hostile part.
   */
  async function round(i: number): Promise<{ baselineMs: number; maxMs: number; slowestMs: number; probes: number }> {
    const d = await tenantAt(`Tenant D${i}`, 'nordlicht');
    const nordlicht = institutionGid('nordlicht');
    const dAccount = d.connected.accounts.find((x) => x.iban)!;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    const answers: number[] = [];
    let probing = true;
    // Tenant A and a load balancer keep asking all along.
    const probe = (async () => {
      while (probing) {
        const started = performance.now();
        const [ready, viewer] = await Promise.all([fetch(`${t.gateway.baseUrl}/readyz`), t.gql<{ viewer: { id: string } }>('{ viewer { id } }', {}, a.key)]);
        expect(ready.status).toBe(200);
        expect(viewer.body.data?.viewer.id).toBeTruthy();
        answers.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    delay.enable();
    await new Promise((r) => setTimeout(r, 1_000));
    delay.disable();
    const baselineMs = delay.max / 1e6;
    const probedAlone = answers.length;
    delay.reset();
    delay.enable();
    try {
      // The route of issue 16: as a regular expression it backtracks for seconds on a bank path.
      const set = await call<{ faults: { route: string }[]; userErrors: UserErrors }>(
        FAULTS,
        { institutionId: nordlicht, faults: [{ kind: 'STATUS', status: 500, route: '/(.+)+Q/' }] },
        d.key,
      );
      expect(set.userErrors).toEqual([]);
      // A plain path pattern: it never occurs in a bank path, so the sync goes through.
      expect((await syncNow(d.key, dAccount.id)).syncStatus).toBe('SUCCEEDED');
      // Every bank of D's sandbox rebuilt from its seed.
      expect((await call<{ userErrors: UserErrors }>(RESET, null, d.key)).userErrors).toEqual([]);
      // A tenant the sandbox has not seen yet: its whole copy of the banks is built on this call.
      const c = await t.createTenant(`Tenant C${i}`);
      expect((await call<{ institutionIds: string[]; userErrors: UserErrors }>(RESET, null, c.key)).institutionIds).toHaveLength(4);
    } finally {
      delay.disable();
      probing = false;
      await probe;
    }
    return { baselineMs, maxMs: delay.max / 1e6, slowestMs: Math.max(...answers.slice(probedAlone)), probes: answers.length - probedAlone };
  }

  it('answers /readyz and another tenant quickly while a tenant sets a catastrophic-backtracking route, syncs, resets everything and opens a new sandbox', async () => {
    // Up to three rounds: a real blocker (the regular expression held the loop for seconds) shows in
    // every round, while a machine shared with other test files preempts the process now and then.
    const rounds: Awaited<ReturnType<typeof round>>[] = [];
    for (let i = 0; i < 3; i += 1) {
      const r = await round(i);
      rounds.push(r);
      console.log(
        `event-loop delay, round ${i + 1}: ${r.baselineMs.toFixed(1)} ms at most while only probed; ${r.maxMs.toFixed(1)} ms at most while the tenant worked; slowest probe ${r.slowestMs.toFixed(0)} ms`,
      );
      expect(r.probes).toBeGreaterThan(3);
      expect(r.slowestMs).toBeLessThan(1_000);
      if (r.maxMs < r.baselineMs + 50) break;
    }
    // Nothing the tenant did held the event loop 50 ms longer than the noise this machine makes anyway.
    expect(Math.min(...rounds.map((r) => r.maxMs - r.baselineMs))).toBeLessThan(50);
  }, 240_000);
});
