import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays, utcDay } from '../../src/modules/sync/budget';
import { accountState, bankLedger, connect, control, gatewayLedger, settled } from '../helpers/banking';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

/**
 * Berlin Group banks that offer a transaction report only as a download (`_links.download`
 * instead of a list, 1.3.12 `_linksDownload`): the sandbox bank switched to that mode, the
 * gateway's sync through GraphQL, over real sockets.
 */
let t: TestGateway;
let key: string;
let endUserId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Downloads'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "downloads" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => {
  await control(t, 'PUT', '/banks/nordlicht/transaction-reports', { mode: 'list' }).catch(() => undefined);
  await t?.close();
});

const SYNC = `mutation($id: ID!, $input: AccountSyncInput!) { accountSync(id: $id, input: $input) { account { syncStatus } userErrors { field code message } } }`;

describe('transaction reports offered only as a download', () => {
  it('are fetched from the bank’s download link and read whole when the file is the JSON report', async () => {
    await control(t, 'PUT', '/banks/nordlicht/transaction-reports', { mode: 'download' });
    const c = await connect(t, key, endUserId, 'nordlicht');
    const checking = c.accounts.find((a) => a.iban)!;
    const s = await settled(t, key, checking.id, null);
    expect(s.syncStatus).toBe('SUCCEEDED');
    const ledger = await gatewayLedger(t, checking.internalId);
    expect(ledger.length).toBeGreaterThan(0);
    expect(ledger).toEqual(await bankLedger(t, 'nordlicht', checking.bankAccountId, addDays(utcDay(new Date()), -90)));
  });

  it('fail the sync with a coded refusal, not a half-read history, when the file is camt.052', async () => {
    await control(t, 'PUT', '/banks/nordlicht/transaction-reports', { mode: 'list' });
    const c = await connect(t, key, endUserId, 'nordlicht');
    const checking = c.accounts.find((a) => a.iban)!;
    const first = await settled(t, key, checking.id, null);
    expect(first.syncStatus).toBe('SUCCEEDED');
    const before = await gatewayLedger(t, checking.internalId);

    await control(t, 'PUT', '/banks/nordlicht/transaction-reports', { mode: 'camt' });
    const r = await t.gql<{ accountSync: { userErrors: unknown[] } }>(
      SYNC,
      { id: checking.id, input: { mode: 'USER_PRESENT', psuIpAddress: '198.51.100.7' } },
      key,
    );
    expect(r.body.data!.accountSync.userErrors).toEqual([]);
    const s = await settled(t, key, checking.id, first.lastSyncedAt);
    expect(s.syncStatus).toBe('FAILED');
    expect(s.syncError).toMatch(/BANK_RESPONSE_INVALID/);
    expect((await accountState(t, key, checking.id)).syncStatus).toBe('FAILED');
    // Nothing was read from the file: what the gateway holds is what it held before.
    expect(await gatewayLedger(t, checking.internalId)).toEqual(before);
  });

  it('is a Berlin Group bank setting only', async () => {
    await expect(control(t, 'PUT', '/banks/thames/transaction-reports', { mode: 'download' })).rejects.toThrow(/400/);
  });
});
