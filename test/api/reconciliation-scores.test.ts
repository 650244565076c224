import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomIban, randomName, score } from '../../sandbox/customer-payments';
import { seeded } from '../../bench/reconciliation-data';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { connect, settled } from '../helpers/banking';

type UserErrors = { field: string[]; code: string; message: string }[];

let t: TestGateway;
let key: string;

async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  const r = await t.gql<Record<string, T>>(query, variables, key);
  if (!r.body.data) throw new Error(JSON.stringify(r.body.errors));
  return Object.values(r.body.data)[0]!;
}

beforeAll(async () => {
  // The score run polls the sync and pages every match: more requests than the default per-key limit.
  t = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '100000' } });
  key = (await t.createTenant('Invoicing app')).key;
});
afterAll(async () => {
  await t?.close();
});

const addDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

describe('reconciliation on a sandbox run', () => {
  it('matches 200 expected payments paid with noise at a sandbox bank: automatic confirmations ≥ 99.5 % right, ≥ 95 % of true matches found', async () => {
    const endUser = (await gql<{ endUser: { id: string } }>('mutation { endUserCreate(input: { externalRef: "sme-1" }) { endUser { id } } }', {})).endUser.id;
    const { accounts } = await connect(t, key, endUser, 'nordlicht');
    const account = accounts[0]!.id;
    await settled(t, key, account);

    const today = new Date().toISOString().slice(0, 10);
    const rnd = seeded(19);
    const customers = Array.from({ length: 40 }, () => ({ name: randomName(rnd), iban: randomIban(rnd) }));
    const items = Array.from({ length: 200 }, (_, i) => {
      const c = customers[Math.floor(rnd() * customers.length)]!;
      const cents = 500 + Math.floor(rnd() * 200_000);
      return {
        endUserId: endUser,
        direction: rnd() < 0.85 ? 'INCOMING' : 'OUTGOING',
        amount: { amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`, currency: 'EUR' },
        dueDate: addDays(today, 10 - Math.floor(rnd() * 50)),
        counterpartyName: c.name,
        counterpartyIban: rnd() < 0.7 ? c.iban : null,
        invoiceReference: `INV-2026-${String(1000 + i)}`,
        externalId: `inv-${i}`,
        toleranceAmount: '2.00',
      };
    });
    const created = await gql<{ expectedPayments: { id: string }[]; userErrors: UserErrors }>(
      'mutation($input: ExpectedPaymentBulkCreateInput!) { expectedPaymentBulkCreate(input: $input) { expectedPayments { id } userErrors { field code message } } }',
      { input: { items } },
    );
    expect(created.userErrors).toEqual([]);
    expect(created.expectedPayments).toHaveLength(200);

    const booked = await gql<{ truth: { bankTransactionId: string; expectedPaymentIds: string[]; kind: string }[]; userErrors: UserErrors }>(
      'mutation($input: SandboxCustomerPaymentsBookInput!) { sandboxCustomerPaymentsBook(input: $input) { truth { bankTransactionId expectedPaymentIds kind } userErrors { field code message } } }',
      { input: { accountId: account, expectedPaymentIds: created.expectedPayments.map((e) => e.id), seed: 19, bookFrom: addDays(today, -2) } },
    );
    expect(booked.userErrors).toEqual([]);
    const kinds = new Set(booked.truth.map((x) => x.kind));
    for (const k of [
      'EXACT_REFERENCE',
      'TRUNCATED_REFERENCE',
      'MISTYPED_REFERENCE',
      'NO_REFERENCE',
      'SPLIT',
      'GROUPED',
      'FEES_DEDUCTED',
      'SAME_AMOUNT_TWO_PAYERS',
      'LATE',
      'UNRELATED',
    ])
      expect(kinds).toContain(k);

    const before = (await gql<{ lastSyncedAt: string | null }>('query($id: ID!) { account(id: $id) { lastSyncedAt } }', { id: account })).lastSyncedAt;
    expect(
      (
        await gql<{ userErrors: UserErrors }>(
          'mutation($id: ID!) { accountSync(id: $id, input: { mode: USER_PRESENT, psuIpAddress: "203.0.113.7" }) { userErrors { code message } } }',
          { id: account },
        )
      ).userErrors,
    ).toEqual([]);
    expect((await settled(t, key, account, before)).syncStatus).toBe('SUCCEEDED');

    // Gateway transaction id → the bank's id, and every match the sync made.
    const bankIdOf = new Map<string, string>();
    let after: string | null = null;
    do {
      const page: { nodes: { id: string; bankTransactionId: string | null }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } = (
        await gql<{ transactions: typeof page }>(
          'query($id: ID!, $after: String) { account(id: $id) { transactions(first: 500, after: $after) { nodes { id bankTransactionId } pageInfo { hasNextPage endCursor } } } }',
          { id: account, after },
        )
      ).transactions;
      for (const n of page.nodes) if (n.bankTransactionId) bankIdOf.set(n.id, n.bankTransactionId);
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    const matches: { transactionId: string; expectedPaymentId: string; confirmed: boolean }[] = [];
    after = null;
    do {
      const page: {
        nodes: { transactionId: string; status: string; allocations: { expectedPaymentId: string }[] }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      } = await gql(
        'query($after: String) { reconciliationMatches(first: 100, after: $after) { nodes { transactionId status allocations { expectedPaymentId } } pageInfo { hasNextPage endCursor } } }',
        { after },
      );
      for (const m of page.nodes)
        for (const a of m.allocations)
          matches.push({
            transactionId: bankIdOf.get(m.transactionId) ?? m.transactionId,
            expectedPaymentId: a.expectedPaymentId,
            confirmed: m.status === 'CONFIRMED',
          });
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);

    const s = score(
      booked.truth.map((x) => ({ transactionId: x.bankTransactionId, expectedPaymentIds: x.expectedPaymentIds, kind: x.kind as never })),
      matches,
    );
    console.log(
      `sandbox run: ${s.autoConfirmed} confirmed automatically (${(s.precision * 100).toFixed(2)} % right), ${s.found}/${s.truePairs} true matches found (${(s.recall * 100).toFixed(2)} %)`,
    );
    expect(s.autoConfirmed).toBeGreaterThan(50);
    expect(s.precision).toBeGreaterThanOrEqual(0.995);
    expect(s.recall).toBeGreaterThanOrEqual(0.95);

    // The log shows an event once every older transaction on the server has ended: wait for it on a busy server.
    let paid = 0;
    for (const deadline = Date.now() + 30_000; paid <= 50 && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      paid = (await gql<{ nodes: { id: string }[] }>('query { events(types: [EXPECTED_PAYMENT_PAID], first: 500) { nodes { id } } }', {})).nodes.length;
    }
    expect(paid).toBeGreaterThan(50);
  }, 180_000);
});
