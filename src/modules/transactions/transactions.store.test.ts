import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../../../test/helpers/gateway';
import type { CanonicalTransaction } from '../../banking/model';
import { FirstSyncReconciler, reconcile } from './reconcile';
import { applyChanges, discardUnpublished, feedAfter, latestBookingSql, loadWindow, TransactionStaging, transactionPage } from './transactions.store';

let t: TestGateway;
let tenantId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ tenantId } = await t.createTenant('Store'));
});
afterAll(async () => t?.close());

/** A bare account row to write into (the store needs nothing else). */
async function newAccount(): Promise<string> {
  const sql = t.gateway.db.sql;
  const endUser = randomUUID();
  const consent = randomUUID();
  const account = randomUUID();
  await sql.query(`insert into end_user (id, tenant_id, external_ref, created_at) values ($1, $2, $3, now())`, [endUser, tenantId, `ref-${endUser}`]);
  await sql.query(
    `insert into consent (id, tenant_id, end_user_id, institution_id, scopes, status, valid_for_days, history_days, frequency_per_day, redirect_uri, created_at, updated_at)
     values ($1, $2, $3, 'nordlicht', '["TRANSACTIONS"]', 'ACTIVE', 90, 90, 4, 'http://localhost/x', now(), now())`,
    [consent, tenantId, endUser],
  );
  await sql.query(
    `insert into account (id, tenant_id, consent_id, end_user_id, institution_id, bank_account_id, kind, currency, created_at) values ($1, $2, $3, $4, 'nordlicht', $5, 'CHECKING', 'EUR', now())`,
    [account, tenantId, consent, endUser, `bank-${account}`],
  );
  return account;
}

const entries = (n: number): CanonicalTransaction[] =>
  Array.from({ length: n }, (_, i) => ({
    bankTransactionId: `tx-${i}`,
    status: 'BOOKED',
    amount: { amount: `-${(i % 500) + 1}.${String(i % 100).padStart(2, '0')}`, currency: 'EUR' },
    bookingDate: `2026-0${(i % 9) + 1}-1${i % 10}`,
    valueDate: null,
    transactionDate: null,
    counterpartyName: `Shop\t${i % 37}\nline`,
    counterpartyIban: null,
    remittanceInformation: i % 3 ? `Ref \\ ${i}` : null,
    endToEndId: null,
    bankTransactionCode: 'PMNT-ICDT-ESCT',
    raw: { id: `tx-${i}`, note: 'tab\there' },
  }));

describe('the transaction store', () => {
  it.each([
    ['batched INSERTs', false],
    ['COPY', true],
  ])('stores every row of a large first sync with %s, each with its own consecutive version', async (_label, copy) => {
    if (copy && t.gateway.db.embedded) {
      console.log('skipped: COPY is used with PostgreSQL only (set DATABASE_URL)');
      return;
    }
    const account = await newAccount();
    const client = await t.gateway.db.sql.connect();
    try {
      await client.query('begin');
      const result = reconcile({ stored: await loadWindow(client, account, '2026-01-01'), pages: [entries(12_345)], trustBankIds: true, today: '2026-11-25' });
      const applied = await applyChanges(client, { tenantId, accountId: account, version: '0' }, result, { copy });
      // As the sync's write does: the account's version publishes the rows.
      await client.query('update account set version = $2 where id = $1', [account, applied.version]);
      await client.query('commit');
      expect(applied.added).toHaveLength(12_345);
      expect(applied.version).toBe('12345');
    } finally {
      client.release();
    }
    const { rows } = await t.gateway.db.sql.query<{ n: number; min: string; max: string; distinct: number; name: string }>(
      `select count(*)::int as n, min(version)::text as min, max(version)::text as max, count(distinct version)::int as distinct,
         (select counterparty_name from bank_transaction where account_id = $1 and bank_transaction_id = 'tx-1') as name
       from bank_transaction where account_id = $1`,
      [account],
    );
    expect(rows[0]).toEqual({ n: 12_345, min: '1', max: '12345', distinct: 12_345, name: 'Shop\t1\nline' });
    const feed = await feedAfter(t.gateway.db.sql, tenantId, account, '12340', 10);
    expect(feed.map((e) => e.version)).toEqual(['12341', '12342', '12343', '12344', '12345']);
  });

  it.each([
    ['straight into bank_transaction as the bulk loader role', 'direct'],
    ['through the staging table where the loader role may not insert', 'staged'],
  ] as const)(
    'commits a first sync in chunks while it reads (%s), hides the rows until the sync’s write publishes them, and deletes an attempt that never published',
    async (_label, load) => {
      if (t.gateway.db.embedded) {
        console.log('skipped: COPY is used with PostgreSQL only (set DATABASE_URL)');
        return;
      }
      const sql = t.gateway.db.sql;
      // This test file's database only: grants are per database.
      if (load === 'staged') await sql.query('revoke insert on bank_transaction from passerelle_loader');
      try {
        await firstSyncInChunks(load);
      } finally {
        if (load === 'staged') await sql.query('grant insert on bank_transaction to passerelle_loader');
      }
    },
  );

  async function firstSyncInChunks(load: 'direct' | 'staged'): Promise<void> {
    const sql = t.gateway.db.sql;
    const [staged, applied, abandoned] = [await newAccount(), await newAccount(), await newAccount()];
    const pages = Array.from({ length: 13 }, (_, i) => entries(12_345).slice(i * 1_000, (i + 1) * 1_000));
    const count = async (account: string) =>
      (await sql.query<{ n: number }>('select count(*)::int as n from bank_transaction where account_id = $1', [account])).rows[0]!.n;
    const visible = async (account: string) => ({
      page: (await transactionPage(sql, tenantId, account, 10, null, {})).length,
      feed: (await feedAfter(sql, tenantId, account, '0', 10)).length,
    });
    const client = await sql.connect();
    try {
      // A first attempt that fails half-way leaves nothing behind for the next.
      const failed = await TransactionStaging.open(client, { tenantId, accountId: staged, version: '0' });
      const reconciler = new FirstSyncReconciler(true, '2026-11-25');
      for (const page of pages.slice(0, 7)) failed.add(reconciler.page(page));
      await failed.stored();
      expect(await count(staged)).toBe(7_000);
      expect(await visible(staged)).toEqual({ page: 0, feed: 0 });
      await failed.discard();
      expect(await count(staged)).toBe(0);

      const staging = await TransactionStaging.open(client, { tenantId, accountId: staged, version: '0' });
      expect(staging.load).toBe(load);
      const again = new FirstSyncReconciler(true, '2026-11-25');
      for (const page of pages) staging.add(again.page(page));
      await staging.stored();
      // Committed (in chunks), and still out of every read.
      expect(await count(staged)).toBe(12_345);
      expect(await visible(staged)).toEqual({ page: 0, feed: 0 });
      await client.query('begin');
      await staging.publish(client);
      await client.query('update account set version = $2 where id = $1', [staged, staging.version]);
      await client.query('commit');
      staging.published();
      await staging.discard();
      expect(staging.added).toHaveLength(12_345);
      expect(staging.version).toBe('12345');
      expect(await visible(staged)).toEqual({ page: 11, feed: 11 });

      // A sync cut short (a crash between chunks): the next sync of the account deletes what it left.
      const cut = await TransactionStaging.open(client, { tenantId, accountId: abandoned, version: '0' });
      for (const page of pages.slice(0, 6)) cut.add(new FirstSyncReconciler(true, '2026-11-25').page(page));
      await cut.stored();
      expect(await discardUnpublished(client, abandoned)).toBe(6_000);
      expect(await discardUnpublished(client, staged)).toBe(0);
      expect(await count(abandoned)).toBe(0);

      // A chunk the database refuses (a currency longer than its column) fails the write, commits nothing, and leaves the connection usable.
      const refused = await TransactionStaging.open(client, { tenantId, accountId: abandoned, version: '0' });
      const rows = new FirstSyncReconciler(true, '2026-11-25').page(pages[0]!);
      refused.add([...rows.slice(0, 10), { ...rows[10]!, currency: 'EURO' }]);
      await expect(refused.stored()).rejects.toThrow(/too long/);
      await refused.discard();
      expect(await count(abandoned)).toBe(0);
      expect((await client.query<{ ok: number }>('select 1 as ok')).rows).toEqual([{ ok: 1 }]);

      await client.query('begin');
      const result = reconcile({ stored: [], pages, trustBankIds: true, today: '2026-11-25' });
      await applyChanges(client, { tenantId, accountId: applied, version: '0' }, result, { copy: true });
      await client.query('commit');
    } finally {
      client.release();
    }
    const columns = `status, amount::text, currency, booking_date, value_date, transaction_date, sort_date, counterparty_name, counterparty_iban, remittance,
      description, end_to_end_id, bank_transaction_code, bank_transaction_id, fingerprint, occurrence, content_hash, raw, created_version, version`;
    const read = async (account: string) => (await sql.query(`select ${columns} from bank_transaction where account_id = $1 order by version`, [account])).rows;
    const [a, b] = [await read(staged), await read(applied)];
    expect(a).toHaveLength(12_345);
    expect(a).toEqual(b);
  }

  it('gives a first sync’s latest booking from the rows stored before it as well as its own, and ignores removed and pending rows', async () => {
    if (t.gateway.db.embedded) {
      console.log('skipped: COPY is used with PostgreSQL only (set DATABASE_URL)');
      return;
    }
    const sql = t.gateway.db.sql;
    const before = (bookingDate: string, status: 'BOOKED' | 'PENDING', i: number): CanonicalTransaction => ({
      ...entries(1)[0]!,
      bankTransactionId: `before-${i}`,
      status,
      bookingDate,
      raw: { i },
    });
    // Each account holds three rows from an earlier window: one booked, one removed since, one pending.
    const latest = async (booked: string, removed: string, pending: string): Promise<string | null> => {
      const account = await newAccount();
      const client = await sql.connect();
      try {
        await client.query('begin');
        const rows = [before(booked, 'BOOKED', 0), before(removed, 'BOOKED', 1), before(pending, 'PENDING', 2)];
        const applied = await applyChanges(
          client,
          { tenantId, accountId: account, version: '0' },
          reconcile({ stored: [], pages: [rows], trustBankIds: true, today: '2026-11-25' }),
          {},
        );
        await client.query(`update bank_transaction set removed_at = now() where account_id = $1 and bank_transaction_id = 'before-1'`, [account]);
        await client.query('update account set version = $2 where id = $1', [account, applied.version]);
        await client.query('commit');
        const staging = await TransactionStaging.open(client, { tenantId, accountId: account, version: applied.version });
        // The staged rows book from 2026-01-10 to 2026-09-19.
        staging.add(new FirstSyncReconciler(true, '2026-11-25').page(entries(100)));
        await staging.stored();
        await staging.discard();
        return staging.lastBooked;
      } finally {
        client.release();
      }
    };
    expect(await latest('2026-10-01', '2026-11-01', '2026-11-02')).toBe('2026-10-01');
    expect(await latest('2025-03-01', '2026-11-01', '2026-11-02')).toBe('2026-09-19');
  });

  it('reads an account’s latest booking as the max(booking_date) of its live booked rows up to a version, whatever comes later in page order', async () => {
    const sql = t.gateway.db.sql;
    const account = await newAccount();
    const entry = (i: number, status: 'BOOKED' | 'PENDING', bookingDate: string | null, valueDate: string | null): CanonicalTransaction => ({
      ...entries(1)[0]!,
      bankTransactionId: `latest-${i}`,
      amount: { amount: `-${i}.00`, currency: 'EUR' },
      status,
      bookingDate,
      valueDate,
      raw: { i },
    });
    const write = async (version: string, rows: CanonicalTransaction[]) => {
      const client = await sql.connect();
      try {
        await client.query('begin');
        const applied = await applyChanges(
          client,
          { tenantId, accountId: account, version },
          reconcile({ stored: [], pages: [rows], trustBankIds: true, today: '2026-11-25' }),
          {},
        );
        await client.query('commit');
        return applied.version;
      } finally {
        client.release();
      }
    };
    // Later in page order than the answer: a pending entry, a booked one removed since, and a booked one with only a value date.
    const first = await write('0', [
      entry(1, 'BOOKED', '2026-05-01', '2026-05-01'),
      entry(2, 'BOOKED', '2026-06-01', '2026-06-02'),
      entry(3, 'PENDING', '2026-07-01', '2026-07-01'),
      entry(4, 'BOOKED', '2026-08-01', '2026-08-01'),
      entry(5, 'BOOKED', null, '2026-09-01'),
    ]);
    await sql.query(`update bank_transaction set removed_at = now() where account_id = $1 and bank_transaction_id = 'latest-4'`, [account]);
    // A booking after the version asked for does not count.
    const second = await write(first, [entry(6, 'BOOKED', '2026-10-01', '2026-10-01')]);
    const latest = async (version: string) => {
      const { rows } = await sql.query<{ fast: string | null; max: string | null }>(
        `select to_char(${latestBookingSql('$1', '$2')}, 'YYYY-MM-DD') as fast,
                (select to_char(max(booking_date), 'YYYY-MM-DD') from bank_transaction
                  where account_id = $1 and removed_at is null and status = 'BOOKED' and version <= $2::bigint) as max`,
        [account, version],
      );
      return rows[0]!;
    };
    expect(await latest(first)).toEqual({ fast: '2026-06-01', max: '2026-06-01' });
    expect(await latest(second)).toEqual({ fast: '2026-10-01', max: '2026-10-01' });
    expect(await latest('0')).toEqual({ fast: null, max: null });
  });

  it('holds a first sync at a few chunks while the database falls behind, and goes on once it catches up', async () => {
    if (t.gateway.db.embedded) {
      console.log('skipped: COPY is used with PostgreSQL only (set DATABASE_URL)');
      return;
    }
    const sql = t.gateway.db.sql;
    const account = await newAccount();
    // Pages of 2,500 entries: one chunk each.
    const pages = Array.from({ length: 8 }, (_, i) => entries(20_000).slice(i * 2_500, (i + 1) * 2_500));
    const client = await sql.connect();
    try {
      const staging = await TransactionStaging.open(client, { tenantId, accountId: account, version: '0' });
      // A database that cannot keep up: the sync's connection is busy with a slow statement, and
      // every chunk waits behind it. (A read: no transaction id held, so no other test's event
      // log waits for it, as a blocked insert's would.)
      const slow = client.query('select pg_sleep(1.5)');
      const reconciler = new FirstSyncReconciler(true, '2026-11-25');
      let accepted = 0;
      let held: Promise<void> | null = null;
      for (const page of pages) {
        staging.add(reconciler.page(page));
        accepted++;
        const room = staging.room();
        const waited = await Promise.race([room.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 100))]);
        if (waited) {
          held = room;
          break;
        }
      }
      // Held after a few chunks, not after the whole account.
      expect(held).not.toBeNull();
      expect(accepted).toBeGreaterThanOrEqual(2);
      expect(accepted).toBeLessThanOrEqual(4);
      await slow;
      await held;
      for (const page of pages.slice(accepted)) {
        staging.add(reconciler.page(page));
        await staging.room();
      }
      await staging.stored();
      const { rows } = await sql.query<{ n: number; versions: number }>(
        'select count(*)::int as n, count(distinct version)::int as versions from bank_transaction where account_id = $1',
        [account],
      );
      expect(rows[0]).toEqual({ n: 20_000, versions: 20_000 });
      expect(staging.version).toBe('20000');
      await staging.discard();
    } finally {
      client.release();
    }
  });
});
