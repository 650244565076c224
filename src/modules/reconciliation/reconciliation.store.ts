/**
 * Storage of expected payments and matches in plain SQL (the matcher's reads and writes run inside
 * the sync's transaction, set-based). Every statement is scoped by tenant.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { toGlobalId } from '../../kernel/ids';
import { EventType, type NewEvent } from '../events';
import { AUTO_CONFIRM_CONFIDENCE, type GatewayPaymentRef, type OpenItem, type Proposal, type TxForMatch } from './matcher';
import { fromMinor, toMinor } from './money';

type Queryable = Pick<pg.PoolClient, 'query'>;

export type ExpectedPaymentStatus = 'OPEN' | 'PARTIALLY_PAID' | 'PAID' | 'OVERPAID' | 'CLOSED' | 'CANCELLED';
export type MatchStatus = 'SUGGESTED' | 'CONFIRMED' | 'REJECTED' | 'UNDONE' | 'REVERSED';

/** An expected payment as the API reads it. */
export interface ExpectedPaymentRecord {
  id: string;
  tenantId: string;
  endUserId: string;
  accountId: string | null;
  direction: 'INCOMING' | 'OUTGOING';
  amount: string;
  currency: string;
  paidAmount: string;
  dueDate: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  invoiceReference: string | null;
  creditorReference: string | null;
  ukReference: string | null;
  externalId: string | null;
  requestHash: string;
  toleranceAmount: string;
  toleranceDays: number;
  status: ExpectedPaymentStatus;
  createdAt: Date;
  updatedAt: Date;
}

export const EP_COLUMNS = `id, tenant_id as "tenantId", end_user_id as "endUserId", account_id as "accountId", direction, amount::text as amount, currency,
  paid_amount::text as "paidAmount", to_char(due_date, 'YYYY-MM-DD') as "dueDate", counterparty_name as "counterpartyName", counterparty_iban as "counterpartyIban",
  invoice_reference as "invoiceReference", creditor_reference as "creditorReference", uk_reference as "ukReference", external_id as "externalId",
  request_hash as "requestHash", tolerance_amount::text as "toleranceAmount", tolerance_days as "toleranceDays", status, created_at as "createdAt", updated_at as "updatedAt"`;

/** A match as the API reads it. */
export interface MatchRecord {
  id: string;
  tenantId: string;
  endUserId: string;
  transactionId: string;
  paymentId: string | null;
  status: MatchStatus;
  rule: string;
  confidence: string;
  agreeingFields: string[];
  decidedBy: string | null;
  decidedAt: Date | null;
  createdAt: Date;
  allocations: { expectedPaymentId: string; amount: string; currency: string }[];
}

export const MATCH_COLUMNS = `m.id, m.tenant_id as "tenantId", m.end_user_id as "endUserId", m.transaction_id as "transactionId", m.payment_id as "paymentId", m.status, m.rule,
  m.confidence::text as confidence, m.agreeing_fields as "agreeingFields", m.decided_by as "decidedBy", m.decided_at as "decidedAt", m.created_at as "createdAt",
  coalesce((select json_agg(json_build_object('expectedPaymentId', a.expected_payment_id, 'amount', a.amount::text, 'currency', ep.currency) order by ep.due_date, ep.id)
    from reconciliation_allocation a join expected_payment ep on ep.id = a.expected_payment_id where a.match_id = m.id), '[]'::json) as allocations`;

/** The items a batch of one end user's transactions may settle (not cancelled or closed), with their live sums. */
export async function loadItems(db: Queryable, tenantId: string, endUserIds: string[]): Promise<OpenItem[]> {
  const { rows } = await db.query<{
    id: string;
    endUserId: string;
    direction: 'INCOMING' | 'OUTGOING';
    currency: string;
    amount: string;
    live: string;
    paid: string;
    toleranceAmount: string;
    toleranceDays: number;
    dueDate: string;
    accountId: string | null;
    counterpartyName: string | null;
    counterpartyIban: string | null;
    reference: string | null;
    creditorReference: string | null;
  }>(
    `select ep.id, ep.end_user_id as "endUserId", ep.direction, ep.currency, ep.amount::text as amount,
       coalesce(s.live, 0)::text as live, coalesce(s.paid, 0)::text as paid, ep.tolerance_amount::text as "toleranceAmount", ep.tolerance_days as "toleranceDays",
       to_char(ep.due_date, 'YYYY-MM-DD') as "dueDate", ep.account_id as "accountId", ep.counterparty_name as "counterpartyName", ep.counterparty_iban as "counterpartyIban",
       ep.normalised_reference as reference, ep.creditor_reference as "creditorReference"
     from expected_payment ep
     left join lateral (select sum(a.amount) as live, sum(a.amount) filter (where m.status = 'CONFIRMED') as paid
       from reconciliation_allocation a join reconciliation_match m on m.id = a.match_id
       where a.expected_payment_id = ep.id and m.status in ('SUGGESTED', 'CONFIRMED')) s on true
     where ep.tenant_id = $1 and ep.end_user_id = any($2::uuid[]) and ep.status not in ('CANCELLED', 'CLOSED')`,
    [tenantId, endUserIds],
  );
  return rows.map((r) => {
    const amount = toMinor(r.amount, r.currency);
    return {
      id: r.id,
      endUserId: r.endUserId,
      direction: r.direction,
      currency: r.currency,
      amount,
      open: amount - toMinor(r.live, r.currency),
      paid: toMinor(r.paid, r.currency),
      toleranceAmount: toMinor(r.toleranceAmount, r.currency),
      toleranceDays: r.toleranceDays,
      dueDate: r.dueDate,
      accountId: r.accountId,
      counterpartyName: r.counterpartyName,
      counterpartyIban: r.counterpartyIban,
      reference: r.reference,
      creditorReference: r.creditorReference,
    };
  });
}

const TX_COLUMNS = `t.id, t.account_id as "accountId", c.end_user_id as "endUserId", t.amount::text as amount, t.currency, to_char(t.sort_date, 'YYYY-MM-DD') as date,
  t.counterparty_name as "counterpartyName", t.counterparty_iban as "counterpartyIban", t.remittance, t.end_to_end_id as "endToEndId"`;

type TxRow = Omit<TxForMatch, 'amount'> & { amount: string };
const toTx = (r: TxRow): TxForMatch => ({ ...r, amount: toMinor(r.amount, r.currency) });

/**
 * Whether a transaction of this account could match anything: its end user has an item not
 * cancelled or closed, or a payment with an end-to-end id (what loadItems and loadGatewayPayments
 * would find, or more). Two index probes.
 */
export async function anythingToMatch(db: Queryable, tenantId: string, accountId: string): Promise<boolean> {
  const { rows } = await db.query<{ any: boolean }>(
    `select exists (select 1 from expected_payment ep where ep.tenant_id = $1 and ep.end_user_id = c.end_user_id and ep.status not in ('CANCELLED', 'CLOSED'))
         or exists (select 1 from payment p where p.tenant_id = $1 and p.end_user_id = c.end_user_id and p.end_to_end_id is not null) as any
     from account a join consent c on c.id = a.consent_id where a.id = $2 and a.tenant_id = $1`,
    [tenantId, accountId],
  );
  return rows[0]?.any === true;
}

/** Live transactions by id, without a live or rejected match, oldest first. */
export async function loadUnmatched(db: Queryable, tenantId: string, ids: string[]): Promise<TxForMatch[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<TxRow>(
    `select ${TX_COLUMNS} from bank_transaction t join account a on a.id = t.account_id join consent c on c.id = a.consent_id
     where t.tenant_id = $1 and t.id = any($2::uuid[]) and t.removed_at is null
       and not exists (select 1 from reconciliation_match m where m.transaction_id = t.id and m.status in ('SUGGESTED', 'CONFIRMED', 'REJECTED'))
     order by t.sort_date, t.id`,
    [tenantId, ids],
  );
  return rows.map(toTx);
}

/** A page of the backlog: live transactions never matched nor rejected, after `afterId` in (sort_date, id) order. */
export async function loadBacklog(
  db: Queryable,
  tenantId: string,
  accountIds: string[],
  after: { date: string; id: string } | null,
  limit: number,
): Promise<TxForMatch[]> {
  const { rows } = await db.query<TxRow>(
    `select ${TX_COLUMNS} from bank_transaction t join account a on a.id = t.account_id join consent c on c.id = a.consent_id
     where t.tenant_id = $1 and t.account_id = any($2::uuid[]) and t.removed_at is null
       and not exists (select 1 from sync_unpublished u where u.account_id = t.account_id and t.created_version > u.after_version)
       and ($3::date is null or (t.sort_date, t.id) > ($3::date, $4::uuid))
       and not exists (select 1 from reconciliation_match m where m.transaction_id = t.id and m.status in ('SUGGESTED', 'CONFIRMED', 'REJECTED'))
     order by t.sort_date, t.id limit $5`,
    [tenantId, accountIds, after?.date ?? null, after?.id ?? null, limit],
  );
  return rows.map(toTx);
}

/** Gateway payments of these end users with one of these end-to-end ids. */
export async function loadGatewayPayments(db: Queryable, tenantId: string, endToEndIds: string[]): Promise<GatewayPaymentRef[]> {
  if (endToEndIds.length === 0) return [];
  const { rows } = await db.query<{ id: string; endUserId: string; endToEndId: string; amount: string; currency: string }>(
    `select id, end_user_id as "endUserId", end_to_end_id as "endToEndId", amount::text as amount, currency from payment
     where tenant_id = $1 and end_to_end_id = any($2::text[])
       and not exists (select 1 from reconciliation_match m where m.payment_id = payment.id and m.status in ('SUGGESTED', 'CONFIRMED'))`,
    [tenantId, endToEndIds],
  );
  return rows.map((r) => ({ ...r, amount: toMinor(r.amount, r.currency) }));
}

/** A stored match and what the caller needs to announce it. */
export interface SavedMatch {
  id: string;
  transactionId: string;
  status: MatchStatus;
  expectedPaymentIds: string[];
}

/**
 * Writes proposals: CONFIRMED at or above the auto-confirm confidence, else SUGGESTED. A
 * transaction that already has a live match (a concurrent decision) is skipped by the unique index.
 */
export async function saveProposals(
  client: Queryable,
  tenantId: string,
  endUserOf: Map<string, string>,
  currencyOf: Map<string, string>,
  proposals: Proposal[],
  decidedBy: string,
): Promise<SavedMatch[]> {
  if (proposals.length === 0) return [];
  const ids = proposals.map(() => randomUUID());
  const statuses = proposals.map((p) => (p.confidence >= AUTO_CONFIRM_CONFIDENCE ? 'CONFIRMED' : 'SUGGESTED'));
  const { rows } = await client.query<{ id: string }>(
    `insert into reconciliation_match (id, tenant_id, end_user_id, transaction_id, payment_id, status, rule, confidence, agreeing_fields, decided_by, decided_at, created_at)
     select u.id, $1, u.end_user_id, u.transaction_id, u.payment_id, u.status, u.rule, u.confidence, string_to_array(u.fields, ','),
       case when u.status = 'CONFIRMED' then $10 end, case when u.status = 'CONFIRMED' then now() end, now()
     from unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::numeric[], $9::text[]) as u(id, end_user_id, transaction_id, payment_id, status, rule, confidence, fields)
     on conflict (transaction_id) where status in ('SUGGESTED', 'CONFIRMED') do nothing
     returning id`,
    [
      tenantId,
      ids,
      proposals.map((p) => endUserOf.get(p.transactionId)),
      proposals.map((p) => p.transactionId),
      proposals.map((p) => p.paymentId),
      statuses,
      proposals.map((p) => p.rule),
      proposals.map((p) => p.confidence.toFixed(3)),
      proposals.map((p) => p.agreeingFields.join(',')),
      decidedBy,
    ],
  );
  const kept = new Set(rows.map((r) => r.id));
  const alloc: [string, string, string][] = [];
  const saved: SavedMatch[] = [];
  proposals.forEach((p, n) => {
    if (!kept.has(ids[n]!)) return;
    const currency = currencyOf.get(p.transactionId)!;
    for (const a of p.allocations) alloc.push([ids[n]!, a.expectedPaymentId, fromMinor(a.amount, currency)]);
    saved.push({
      id: ids[n]!,
      transactionId: p.transactionId,
      status: statuses[n] as MatchStatus,
      expectedPaymentIds: p.allocations.map((a) => a.expectedPaymentId),
    });
  });
  await insertAllocations(client, tenantId, alloc);
  return saved;
}

export async function insertAllocations(client: Queryable, tenantId: string, alloc: [string, string, string][]): Promise<void> {
  if (alloc.length === 0) return;
  await client.query(
    `insert into reconciliation_allocation (match_id, tenant_id, expected_payment_id, amount)
     select u.m, $1, u.e, u.a from unnest($2::uuid[], $3::uuid[], $4::numeric[]) as u(m, e, a)`,
    [tenantId, alloc.map((a) => a[0]), alloc.map((a) => a[1]), alloc.map((a) => a[2])],
  );
}

/** A status change of an expected payment after its matches changed. */
export interface Transition {
  id: string;
  from: ExpectedPaymentStatus;
  to: ExpectedPaymentStatus;
  amount: string;
  paidAmount: string;
  currency: string;
  externalId: string | null;
}

/**
 * Recomputes paid amounts and statuses from the confirmed allocations, holding the rows (in id
 * order, so concurrent recomputations never deadlock). Cancelled and closed items keep their status.
 */
export async function recompute(client: Queryable, tenantId: string, ids: string[]): Promise<Transition[]> {
  const unique = [...new Set(ids)].sort();
  if (unique.length === 0) return [];
  const { rows: before } = await client.query<{ id: string; status: ExpectedPaymentStatus }>(
    'select id, status from expected_payment where tenant_id = $1 and id = any($2::uuid[]) order by id for update',
    [tenantId, unique],
  );
  const { rows } = await client.query<{
    id: string;
    status: ExpectedPaymentStatus;
    amount: string;
    paidAmount: string;
    currency: string;
    externalId: string | null;
  }>(
    `with s as (
       select ep.id, coalesce(sum(a.amount) filter (where m.status = 'CONFIRMED'), 0) as paid
       from expected_payment ep left join reconciliation_allocation a on a.expected_payment_id = ep.id left join reconciliation_match m on m.id = a.match_id
       where ep.tenant_id = $1 and ep.id = any($2::uuid[]) group by ep.id)
     update expected_payment ep set paid_amount = s.paid, updated_at = now(), status = case
         when ep.status in ('CANCELLED', 'CLOSED') then ep.status
         when s.paid <= 0 then 'OPEN'
         when s.paid < ep.amount - ep.tolerance_amount then 'PARTIALLY_PAID'
         when s.paid > ep.amount + ep.tolerance_amount then 'OVERPAID'
         else 'PAID' end
     from s where ep.id = s.id
     returning ep.id, ep.status, ep.amount::text as amount, ep.paid_amount::text as "paidAmount", ep.currency, ep.external_id as "externalId"`,
    [tenantId, unique],
  );
  const was = new Map(before.map((r) => [r.id, r.status]));
  return rows
    .filter((r) => was.get(r.id) !== r.status)
    .map((r) => ({ id: r.id, from: was.get(r.id)!, to: r.status, amount: r.amount, paidAmount: r.paidAmount, currency: r.currency, externalId: r.externalId }));
}

/** The events of status changes and of new suggestions. */
export function reconciliationEvents(tenantId: string, transitions: Transition[], suggested: SavedMatch[]): NewEvent[] {
  const events: NewEvent[] = [];
  for (const t of transitions) {
    const type =
      t.to === 'PAID' || t.to === 'OVERPAID' ? EventType.EXPECTED_PAYMENT_PAID : t.to === 'PARTIALLY_PAID' ? EventType.EXPECTED_PAYMENT_PARTIALLY_PAID : null;
    if (!type) continue;
    events.push({
      tenantId,
      type,
      resourceType: 'ExpectedPayment',
      resourceId: t.id,
      payload: {
        expectedPaymentId: toGlobalId('ExpectedPayment', t.id),
        externalId: t.externalId,
        status: t.to,
        amount: { amount: t.amount, currency: t.currency },
        paidAmount: { amount: t.paidAmount, currency: t.currency },
      },
    });
  }
  for (const m of suggested) {
    if (m.status !== 'SUGGESTED') continue;
    events.push({
      tenantId,
      type: EventType.RECONCILIATION_SUGGESTED,
      resourceType: 'ReconciliationMatch',
      resourceId: m.id,
      payload: {
        matchId: toGlobalId('ReconciliationMatch', m.id),
        transactionId: toGlobalId('Transaction', m.transactionId),
        expectedPaymentIds: m.expectedPaymentIds.map((id) => toGlobalId('ExpectedPayment', id)),
      },
    });
  }
  return events;
}
