import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { addDays, utcDay } from '../../src/modules/sync/budget';
import { authorise, bankLedger, connect, control, gatewayLedger, settled } from '../helpers/banking';
import { ciConfig, startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let key: string;
let endUserId: string;

beforeAll(async () => {
  t = await startTestGateway();
  key = (await t.createTenant('Races')).key;
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "racer" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => t?.close());

const REVOKE = 'mutation($id: ID!) { consentRevoke(id: $id) { consent { status } userErrors { code } } }';
type Revoked = { consentRevoke: { consent: { status: string } | null; userErrors: { code: string }[] } };

async function eventTypes(consentInternalId: string): Promise<string[]> {
  const { rows } = await t.gateway.db.sql.query<{ type: string }>('select type from event where resource_id = $1 order by seq', [consentInternalId]);
  return rows.map((r) => r.type);
}

describe('a consent revoked concurrently', { timeout: 120_000 }, () => {
  it('is revoked once: one answer REVOKED with one CONSENT_REVOKED event, the others ALREADY_REVOKED', async () => {
    const c = await connect(t, key, endUserId, 'nordlicht');
    const results = await Promise.all(Array.from({ length: 4 }, () => t.gql<Revoked>(REVOKE, { id: c.consentId }, key)));
    const payloads = results.map((r) => r.body.data!.consentRevoke);
    expect(payloads.filter((p) => p.userErrors.length === 0)).toEqual([{ consent: { status: 'REVOKED' }, userErrors: [] }]);
    expect(payloads.filter((p) => p.userErrors.length > 0).map((p) => p.userErrors.map((e) => e.code))).toEqual([
      ['ALREADY_REVOKED'],
      ['ALREADY_REVOKED'],
      ['ALREADY_REVOKED'],
    ]);
    expect((await eventTypes(parseGlobalId(c.consentId)!.id)).filter((type) => type === 'CONSENT_REVOKED')).toHaveLength(1);
  });
});

// The interleaving is forced with a row lock held by the test, so it needs a server with real concurrent sessions.
describe.skipIf(!ciConfig.databaseUrl)('a bank refusal reported by a sync while the consent is revoked', { timeout: 120_000 }, () => {
  it('leaves the consent REVOKED: the refusal sees the committed revocation instead of overwriting it', async () => {
    const c = await connect(t, key, endUserId, 'nordlicht');
    const id = parseGlobalId(c.consentId)!.id;
    const revocation = await t.gateway.db.sql.connect();
    try {
      // The revocation's transaction holds the row while the sync reports the bank's refusal…
      await revocation.query('begin');
      await revocation.query('select id from consent where id = $1 for update', [id]);
      const { rows: authorised } = await t.gateway.db.sql.query<{ at: Date }>('select authorized_at as at from consent where id = $1', [id]);
      const reported = t.gateway.services.consents.reportBankRefusal(
        t.gateway.db.orm.em.fork(),
        id,
        'The bank refused the consent (CONSENT_INVALID) during a sync.',
        authorised[0]!.at,
      );
      await waitForLockWaiter();
      // …and commits REVOKED before the report may go on.
      await revocation.query(`update consent set status = 'REVOKED', status_reason = 'Revoked through the API.' where id = $1`, [id]);
      await revocation.query('commit');
      expect(await reported).toBe('REVOKED');
    } finally {
      revocation.release();
    }
    const { rows } = await t.gateway.db.sql.query<{ status: string }>('select status from consent where id = $1', [id]);
    expect(rows[0]!.status).toBe('REVOKED');
    expect(await eventTypes(id)).not.toContain('CONSENT_REAUTH_REQUIRED');
  });
});

describe('a sync the bank refuses because the consent was renewed while it read', { timeout: 120_000 }, () => {
  it('leaves the renewed consent ACTIVE and starts over with the new authorisation, ending equal to the bank', async () => {
    // Another bank user than the earlier tests' consents, whose syncs may still call the bank: the fault below names
    // this account, and only this consent reads it.
    const c = await connect(t, key, endUserId, 'nordlicht', 'sme');
    const id = parseGlobalId(c.consentId)!.id;
    for (const a of c.accounts) await settled(t, key, a.id, null);
    const checking = c.accounts.find((a) => a.iban)!;
    const before = await t.gateway.db.sql.query<{ bank_consent_id: string }>('select bank_consent_id from consent where id = $1', [id]);
    const oldBankConsent = before.rows[0]!.bank_consent_id;

    // The sync's first transaction call is held at the bank while the end user renews the consent…
    await control(t, 'POST', '/banks/nordlicht/faults', {
      kind: 'latency',
      route: `accounts/${checking.bankAccountId}/transactions`,
      latencyMs: 4_000,
      times: 1,
    });
    let ended = false;
    const running = t.gateway.services.sync
      .run({ accountId: checking.internalId, mode: 'USER_PRESENT', psuIpAddress: '203.0.113.9', reason: 'REQUESTED' })
      .finally(() => (ended = true));
    await waitFor(async () => {
      if (ended) throw new Error(`the sync ended before the bank held its call: ${JSON.stringify(await running)}`);
      return (await t.gateway.db.sql.query(`select 1 from account where id = $1 and sync_status = 'RUNNING'`, [checking.internalId])).rowCount === 1;
    });
    const renewed = await t.gql<{ consentRenew: { authorizationUrl: string } }>(
      'mutation($id: ID!) { consentRenew(id: $id) { authorizationUrl } }',
      { id: c.consentId },
      key,
    );
    expect((await authorise(t, renewed.body.data!.consentRenew.authorizationUrl, 'sme')).searchParams.get('outcome')).toBe('success');
    const after = await t.gateway.db.sql.query<{ bank_consent_id: string }>('select bank_consent_id from consent where id = $1', [id]);
    expect(after.rows[0]!.bank_consent_id).not.toBe(oldBankConsent);
    // …and the old authorisation ends at the bank before the held call is answered: the bank refuses it.
    await control(t, 'POST', `/banks/nordlicht/consents/${encodeURIComponent(oldBankConsent)}/expire`);

    const outcome = await running;
    expect(outcome.status).toBe('SUCCEEDED');
    const { rows } = await t.gateway.db.sql.query<{ status: string }>('select status from consent where id = $1', [id]);
    expect(rows[0]!.status).toBe('ACTIVE');
    expect(await eventTypes(id)).not.toContain('CONSENT_REAUTH_REQUIRED');
    const s = await settled(t, key, checking.id, null);
    expect(s.syncStatus).toBe('SUCCEEDED');
    expect(await gatewayLedger(t, checking.internalId)).toEqual(await bankLedger(t, 'nordlicht', checking.bankAccountId, addDays(utcDay(new Date()), -90)));
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until some session of this database waits for a row lock (the report blocked behind the revocation). */
async function waitForLockWaiter(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await t.gateway.db.sql.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
    );
    if (rows[0]!.n > 0) return;
    if (Date.now() > deadline) throw new Error('the refusal report never waited for the consent row');
    await new Promise((r) => setTimeout(r, 20));
  }
}
