/**
 * Reconciliation on generated data with known truth (sandbox/customer-payments.ts plays the
 * customers), through the real storage path on PostgreSQL:
 *
 *   DATABASE_URL=postgres://… npx tsx bench/reconciliation.bench.ts     (alone)
 *   DATABASE_URL=postgres://… npm run bench -- reconciliation
 *
 * 1. 10,000 expected payments of one end user; ~20,000 bank entries paying them with noise plus
 *    unrelated ones. The same entries are stored by a sync's write (loadWindow + reconcile +
 *    applyChanges) into two fresh accounts in the same run: once without matching, once with the
 *    matcher hook inside the transaction as the sync runs it. Rows/s of both, and their ratio.
 * 2. The matches of the second write scored against the truth: precision of automatic
 *    confirmations, share of true matches found (confirmed or suggested), by noise kind.
 * 3. The backlog: 100,000 stored transactions never matched, 20,000 open expected payments;
 *    `reconciliationRun` over them (wall time), and its scores.
 */
import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { planCustomerPayments, score, type BookedEntry, type CustomerPaymentsPlan, type Score } from '../sandbox/customer-payments';
import type { Caller } from '../src/kernel/caller';
import type { CanonicalTransaction } from '../src/banking/model';
import { utcDay } from '../src/modules/sync/budget';
import { reconcile } from '../src/modules/transactions/reconcile';
import { applyChanges, loadWindow } from '../src/modules/transactions/transactions.store';
import { normaliseReference } from '../src/modules/reconciliation/reference';
import { connect, settled } from '../test/helpers/banking';
import { benchDatabase, cloneAccount, createEndUser, gatewayOn, machineLoad, ms, num, ratio } from './common';
import { expectedPayments } from './reconciliation-data';

const EXPECTED = 10_000;
const BACKLOG_EXPECTED = 20_000;
const BACKLOG_TRANSACTIONS = 100_000;

function canonical(entries: BookedEntry[]): CanonicalTransaction[][] {
  const all = entries.map<CanonicalTransaction>((e) => ({
    bankTransactionId: e.id,
    status: 'BOOKED',
    amount: { amount: e.amount, currency: 'EUR' },
    bookingDate: e.bookingDate,
    valueDate: e.bookingDate,
    transactionDate: null,
    counterpartyName: e.counterpartyName,
    counterpartyIban: e.counterpartyIban,
    remittanceInformation: e.remittance,
    endToEndId: null,
    bankTransactionCode: null,
    raw: null,
  }));
  const pages: CanonicalTransaction[][] = [];
  for (let i = 0; i < all.length; i += 500) pages.push(all.slice(i, i + 500));
  return pages;
}

/** Inserts expected payments straight into the table (the API's bulk form takes 1,000 at a time). */
async function insertExpected(sql: pg.Pool, tenantId: string, endUserId: string, eps: ReturnType<typeof expectedPayments>): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (let i = 0; i < eps.length; i += 5_000) {
    const chunk = eps.slice(i, i + 5_000);
    const { rows } = await sql.query<{ id: string; ext: string }>(
      `insert into expected_payment (id, tenant_id, end_user_id, direction, amount, currency, due_date, counterparty_name, counterparty_iban, invoice_reference,
         normalised_reference, creditor_reference, external_id, request_hash, tolerance_amount, tolerance_days, status, created_at, updated_at)
       select gen_random_uuid(), $1, $2, u.direction, u.amount, 'EUR', u.due, u.name, u.iban, u.ref, u.norm, u.rf, u.ext, repeat('0', 64), u.tol, 0, 'OPEN', now(), now()
       from unnest($3::text[], $4::numeric[], $5::date[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::numeric[])
         as u(direction, amount, due, name, iban, ref, norm, rf, ext, tol)
       returning id, external_id as ext`,
      [
        tenantId,
        endUserId,
        chunk.map((e) => e.direction),
        chunk.map((e) => e.amount),
        chunk.map((e) => e.dueDate),
        chunk.map((e) => e.counterpartyName),
        chunk.map((e) => e.counterpartyIban),
        chunk.map((e) => e.invoiceReference),
        chunk.map((e) => (e.invoiceReference ? normaliseReference(e.invoiceReference) : null)),
        chunk.map((e) => e.creditorReference),
        chunk.map((e) => e.id),
        chunk.map((e) => e.toleranceAmount),
      ],
    );
    for (const r of rows) ids.set(r.ext, r.id);
  }
  return ids;
}

/** The stored matches of some accounts, as (bank entry id, generated expected payment id, confirmed). */
async function storedMatches(sql: pg.Pool, accountIds: string[]): Promise<{ transactionId: string; expectedPaymentId: string; confirmed: boolean }[]> {
  const { rows } = await sql.query<{ transactionId: string; expectedPaymentId: string; confirmed: boolean }>(
    `select t.bank_transaction_id as "transactionId", ep.external_id as "expectedPaymentId", m.status = 'CONFIRMED' as confirmed
     from reconciliation_match m join bank_transaction t on t.id = m.transaction_id
     join reconciliation_allocation a on a.match_id = m.id join expected_payment ep on ep.id = a.expected_payment_id
     where t.account_id = any($1::uuid[]) and m.status in ('SUGGESTED', 'CONFIRMED')`,
    [accountIds],
  );
  return rows;
}

function scoreTable(title: string, s: Score): string {
  const pct = (a: number, b: number) => (b === 0 ? '–' : `${((a / b) * 100).toFixed(2)} %`);
  const lines = [
    `| ${title} | true matches | found (auto or suggested) | recall | confirmed automatically | of which right | precision |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(s.byKind)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([k, v]) =>
          `| ${k} | ${v.truePairs} | ${v.found} | ${pct(v.found, v.truePairs)} | ${v.autoConfirmed} | ${v.autoCorrect} | ${pct(v.autoCorrect, v.autoConfirmed)} |`,
      ),
    `| **all** | **${s.truePairs}** | **${s.found}** | **${pct(s.found, s.truePairs)}** | **${s.autoConfirmed}** | **${s.autoCorrect}** | **${pct(s.autoCorrect, s.autoConfirmed)}** |`,
  ];
  return lines.join('\n');
}

export default async function reconciliationBench(): Promise<string> {
  const loadBefore = machineLoad();
  const db = await benchDatabase('reconbench');
  const t = await gatewayOn(db);
  const sql = t.gateway.db.sql;
  const rec = t.gateway.services.reconciliation;
  const out: string[] = [];
  try {
    const { key, tenantId } = await t.createTenant('Reconciliation bench');
    const endUser = await createEndUser(t, key, 'recon-bench');
    const c = await connect(t, key, endUser, 'nordlicht', 'alice');
    await settled(t, key, c.accounts[0]!.id);
    const endUserId = (await sql.query<{ id: string }>('select end_user_id as id from consent where tenant_id = $1', [tenantId])).rows[0]!.id;
    const today = utcDay(new Date());

    // 1. Sync write with and without the matcher, same entries, same run.
    const eps = expectedPayments(EXPECTED, 1, today);
    await insertExpected(sql, tenantId, endUserId, eps);
    const plan: CustomerPaymentsPlan = planCustomerPayments(eps, { seed: 1, today, distractorRatio: 1.0 });
    const pages = canonical(plan.entries);
    const [plain, matched] = await cloneAccount(sql, c.accounts[0]!.internalId, 2, 'reconbench');
    const write = async (accountId: string, withMatching: boolean) => {
      const client = await sql.connect();
      try {
        await client.query('begin');
        const t0 = performance.now();
        const window = await loadWindow(client, accountId, '2000-01-01');
        const result = reconcile({ stored: window, pages, trustBankIds: true, today });
        const applied = await applyChanges(client, { tenantId, accountId, version: '0' }, result, { copy: true });
        const t1 = performance.now();
        if (withMatching) await rec.onSyncWrite(client, { tenantId, accountId, ...applied });
        await client.query('commit');
        const t2 = performance.now();
        return { rows: applied.added.length, storeMs: t1 - t0, matchMs: withMatching ? t2 - t1 : 0, totalMs: t2 - t0 };
      } catch (err) {
        await client.query('rollback');
        throw err;
      } finally {
        client.release();
      }
    };
    const a = await write(plain!, false);
    const b = await write(matched!, true);
    const rateA = (a.rows / a.totalMs) * 1000;
    const rateB = (b.rows / b.totalMs) * 1000;
    out.push(
      [
        `| sync write of ${a.rows.toLocaleString('en-US')} transactions (${EXPECTED.toLocaleString('en-US')} open expected payments) | time | rows/s |`,
        '|---|---:|---:|',
        `| without matching (loadWindow + reconcile + applyChanges + commit) | ${ms(a.totalMs)} ms | ${num(rateA)} |`,
        `| with matching inside the same transaction | ${ms(b.totalMs)} ms (matching ${ms(b.matchMs)} ms) | ${num(rateB)} |`,
        `| **with / without** | | **${ratio(rateB, rateA)}** |`,
      ].join('\n'),
    );
    const truth = plan.truth.map((x) => ({ ...x, expectedPaymentIds: x.expectedPaymentIds }));
    const s1 = score(truth, await storedMatches(sql, [matched!]));
    out.push(scoreTable(`matching in the sync: ${plan.entries.length.toLocaleString('en-US')} entries, ${EXPECTED.toLocaleString('en-US')} expected`, s1));

    // 3. The backlog: retire the first set, 20,000 new open items, 100,000 stored transactions.
    await sql.query(`update expected_payment set status = 'CANCELLED' where tenant_id = $1`, [tenantId]);
    const eps2 = expectedPayments(BACKLOG_EXPECTED, 2, today);
    await insertExpected(sql, tenantId, endUserId, eps2);
    const paying = planCustomerPayments(eps2, { seed: 2, today, distractorRatio: 0 });
    const extra = BACKLOG_TRANSACTIONS - paying.entries.length;
    const filler = planCustomerPayments(
      Array.from({ length: 1 }, () => eps2[0]!),
      {
        seed: 4,
        today,
        distractorRatio: extra,
        mix: {
          UNPAID: 1,
          EXACT_REFERENCE: 0,
          INVOICE_REFERENCE: 0,
          TRUNCATED_REFERENCE: 0,
          MISTYPED_REFERENCE: 0,
          NO_REFERENCE: 0,
          SPLIT: 0,
          GROUPED: 0,
          FEES_DEDUCTED: 0,
          SAME_AMOUNT_TWO_PAYERS: 0,
          LATE: 0,
        },
      },
    );
    const backlogEntries = [...paying.entries, ...filler.entries];
    const [backlogAccount] = await cloneAccount(sql, c.accounts[0]!.internalId, 1, 'reconbacklog');
    {
      const client = await sql.connect();
      try {
        await client.query('begin');
        const result = reconcile({ stored: [], pages: canonical(backlogEntries), trustBankIds: true, today });
        await applyChanges(client, { tenantId, accountId: backlogAccount!, version: '0' }, result, { copy: true });
        await client.query('commit');
      } finally {
        client.release();
      }
    }
    const caller: Caller = { tenantId, environment: 'sandbox', apiKeyId: '00000000-0000-0000-0000-000000000000' };
    const r0 = performance.now();
    const run = await rec.runBacklog(caller, { accountId: backlogAccount!, endUserId: null });
    const runMs = performance.now() - r0;
    if (!run.ok) throw new Error(JSON.stringify(run.userErrors));
    out.push(
      [
        '| backlog | value |',
        '|---|---:|',
        `| transactions examined | ${run.value.examined.toLocaleString('en-US')} |`,
        `| open expected payments | ${BACKLOG_EXPECTED.toLocaleString('en-US')} |`,
        `| reconciliationRun wall time | ${ms(runMs)} ms |`,
        `| transactions/s | ${num((run.value.examined / runMs) * 1000)} |`,
        `| confirmed / suggested | ${run.value.confirmed.toLocaleString('en-US')} / ${run.value.suggested.toLocaleString('en-US')} |`,
      ].join('\n'),
    );
    const s2 = score([...paying.truth, ...filler.truth], await storedMatches(sql, [backlogAccount!]));
    out.push(scoreTable(`backlog: ${backlogEntries.length.toLocaleString('en-US')} entries, ${BACKLOG_EXPECTED.toLocaleString('en-US')} expected`, s2));
    out.push(`Machine: ${loadBefore} before, ${machineLoad()} after.`);
    return out.join('\n\n');
  } finally {
    await t.close();
    await db.drop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  console.log(await reconciliationBench());
}
