import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import type { Caller } from '../../kernel/caller';
import { currencyDigits } from '../../kernel/money';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import { inTransaction } from '../../platform/db';
import type { Jobs } from '../../platform/jobs';
import type { Logger } from '../../platform/logger';
import { AuditAction, type AuditService } from '../audit';
import { appendEvents, EventType, type NewEvent } from '../events';
import type { Outcome } from '../../kernel/problems';
import { toGlobalId } from '../../kernel/ids';
import { validateExpectedPayment, MAX_BULK, type ExpectedPaymentDraft, type ValidExpectedPayment } from './expected-payment.validation';
import { MatchIndex, matchTransactions, type OpenItem, type Proposal, type TxForMatch } from './matcher';
import { fromMinor, toMinor } from './money';
import { newCreditorReference } from './reference';
import {
  EP_COLUMNS,
  MATCH_COLUMNS,
  anythingToMatch,
  insertAllocations,
  loadBacklog,
  loadGatewayPayments,
  loadItems,
  loadUnmatched,
  recompute,
  reconciliationEvents,
  saveProposals,
  type ExpectedPaymentRecord,
  type ExpectedPaymentStatus,
  type MatchRecord,
  type SavedMatch,
} from './reconciliation.store';

export const OVERDUE_QUEUE = 'expected-payment-overdue-tick';
const BACKLOG_CHUNK = 5_000;
const actor = (caller: Caller) => `apiKey:${caller.apiKeyId}`;

export interface ReconciliationDeps {
  sql: pg.Pool;
  audit: AuditService;
  logger: Logger;
  jobs: Jobs | null;
  /** Called after a commit that wrote events, so live subscribers read them at once. */
  notifyEvents?: () => void;
}

export interface ExpectedPaymentFilter {
  status?: ExpectedPaymentStatus | null;
  dueBefore?: string | null;
  counterparty?: string | null;
  endUserId?: string | null;
}

/** What a sync hands the matcher: the ids its write changed. */
export interface SyncChanges {
  tenantId: string;
  accountId: string;
  added: string[];
  modified: string[];
  removed: string[];
}

/** A manual allocation asked for by reconciliationMatch. */
export interface ManualAllocation {
  expectedPaymentId: string | null;
  amount: string;
}

/**
 * Reconciliation (DESIGN.md D10): expected payments, the matcher run inside each sync's
 * transaction and on demand for the backlog, and the review of its proposals. Services return
 * domain results; resolvers map them.
 */
export class ReconciliationService {
  constructor(private readonly deps: ReconciliationDeps) {}

  /** Declares the daily overdue tick and, with `work`, runs it in this process. */
  async start(options: { work: boolean }): Promise<void> {
    const jobs = this.deps.jobs;
    if (!jobs) return;
    await jobs.define(OVERDUE_QUEUE, { retryLimit: 3, retryDelay: 60, expireInSeconds: 600 });
    if (!options.work) return;
    await jobs.work<Record<string, never>>(OVERDUE_QUEUE, { concurrency: 1, pollingIntervalSeconds: 30 }, async () => {
      await this.overdueTick(new Date().toISOString().slice(0, 10));
    });
    await jobs.schedule(OVERDUE_QUEUE, '15 0 * * *');
  }

  // ── Expected payments ──────────────────────────────────────────────────────

  /** Creates 1–1,000 expected payments, all or none. An external id sent again with the same body answers the stored one. */
  async create(caller: Caller, drafts: ExpectedPaymentDraft[], root: string[]): Promise<Outcome<ExpectedPaymentRecord[]>> {
    if (drafts.length < 1 || drafts.length > MAX_BULK)
      return { ok: false, userErrors: [problem(root, ProblemCode.OUT_OF_RANGE, `send 1–${MAX_BULK} expected payments`)] };
    const single = drafts.length === 1 && root.at(-1) !== 'items';
    const pathOf = (i: number) => (single ? ['input'] : [...root, String(i)]);
    const valid: ValidExpectedPayment[] = [];
    const errors: Problem[] = [];
    drafts.forEach((d, i) => {
      const r = validateExpectedPayment(d, pathOf(i));
      if (r.ok) valid.push(r.value);
      else errors.push(...r.userErrors);
    });
    const seen = new Map<string, number>();
    valid.forEach((v, i) => {
      if (!v.externalId) return;
      if (seen.has(v.externalId)) errors.push(problem([...pathOf(i), 'externalId'], ProblemCode.TAKEN, 'the same external id appears twice in this request'));
      seen.set(v.externalId, i);
    });
    if (errors.length > 0) return { ok: false, userErrors: errors };

    // End users and accounts must be the caller's; an account must belong to the end user.
    const endUsers = [...new Set(valid.map((v) => v.endUserId))];
    const { rows: users } = await this.deps.sql.query<{ id: string }>('select id from end_user where tenant_id = $1 and id = any($2::uuid[])', [
      caller.tenantId,
      endUsers,
    ]);
    const knownUsers = new Set(users.map((u) => u.id));
    const accountIds = [...new Set(valid.map((v) => v.accountId).filter((a): a is string => !!a))];
    const { rows: accounts } = await this.deps.sql.query<{ id: string; endUserId: string; iban: string | null; currency: string }>(
      `select a.id, c.end_user_id as "endUserId", a.iban, a.currency from account a join consent c on c.id = a.consent_id where a.tenant_id = $1 and a.id = any($2::uuid[])`,
      [caller.tenantId, accountIds],
    );
    const accountById = new Map(accounts.map((a) => [a.id, a]));
    valid.forEach((v, i) => {
      if (!knownUsers.has(v.endUserId)) errors.push(problem([...pathOf(i), 'endUserId'], ProblemCode.NOT_FOUND, 'no end user with this id'));
      if (v.accountId) {
        const a = accountById.get(v.accountId);
        if (!a) errors.push(problem([...pathOf(i), 'accountId'], ProblemCode.NOT_FOUND, 'no account with this id'));
        else if (a.endUserId !== v.endUserId)
          errors.push(problem([...pathOf(i), 'accountId'], ProblemCode.END_USER_MISMATCH, 'the account belongs to another end user'));
        else if (a.currency !== v.currency) errors.push(problem([...pathOf(i), 'currency'], ProblemCode.INVALID, `the account is in ${a.currency}`));
      }
    });
    if (errors.length > 0) return { ok: false, userErrors: errors };

    const outcome = await this.transaction(async (client) => {
      const out: ExpectedPaymentRecord[] = [];
      const reused: Problem[] = [];
      for (let i = 0; i < valid.length; i++) {
        const v = valid[i]!;
        const account = v.accountId ? accountById.get(v.accountId) : undefined;
        const incoming = v.direction === 'INCOMING';
        const rf = incoming ? newCreditorReference() : null;
        // FPS carries 18 characters: our RF reference (14) fits, so UK accounts get the same one.
        const uk = incoming && (account?.iban?.startsWith('GB') || v.currency === 'GBP') ? rf : null;
        const { rows } = await client.query<ExpectedPaymentRecord>(
          `insert into expected_payment (id, tenant_id, end_user_id, account_id, direction, amount, currency, due_date, counterparty_name, counterparty_iban,
             invoice_reference, normalised_reference, creditor_reference, uk_reference, external_id, request_hash, tolerance_amount, tolerance_days, status, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 'OPEN', clock_timestamp(), clock_timestamp())
           on conflict (tenant_id, external_id) where external_id is not null do nothing
           returning ${EP_COLUMNS}`,
          [
            randomUUID(),
            caller.tenantId,
            v.endUserId,
            v.accountId,
            v.direction,
            v.amount,
            v.currency,
            v.dueDate,
            v.counterpartyName,
            v.counterpartyIban,
            v.invoiceReference,
            v.normalisedReference,
            rf,
            uk,
            v.externalId,
            v.requestHash,
            v.toleranceAmount,
            v.toleranceDays,
          ],
        );
        if (rows[0]) {
          out.push(rows[0]);
          continue;
        }
        const { rows: existing } = await client.query<ExpectedPaymentRecord>(
          `select ${EP_COLUMNS} from expected_payment where tenant_id = $1 and external_id = $2`,
          [caller.tenantId, v.externalId],
        );
        if (existing[0]!.requestHash === v.requestHash) out.push(existing[0]!);
        else
          reused.push(
            problem([...pathOf(i), 'externalId'], ProblemCode.EXTERNAL_ID_REUSED, 'this external id was used before with a different expected payment'),
          );
      }
      if (reused.length > 0) throw new Rollback(reused);
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action: AuditAction.EXPECTED_PAYMENTS_CREATED,
        actor: actor(caller),
        resourceType: 'ExpectedPayment',
        resourceId: out[0]!.id,
        details: { count: out.length },
      });
      return { ok: true as const, value: out };
    }).catch((err: unknown) => {
      if (err instanceof Rollback) return { ok: false as const, userErrors: err.userErrors };
      throw err;
    });
    return outcome;
  }

  async get(caller: Caller, id: string | null): Promise<ExpectedPaymentRecord | null> {
    if (!id) return null;
    const { rows } = await this.deps.sql.query<ExpectedPaymentRecord>(`select ${EP_COLUMNS} from expected_payment where tenant_id = $1 and id = $2`, [
      caller.tenantId,
      id,
    ]);
    return rows[0] ?? null;
  }

  /** Expected payments by id, within the tenant (unknown ids are left out). */
  async getMany(caller: Caller, ids: string[]): Promise<ExpectedPaymentRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.deps.sql.query<ExpectedPaymentRecord>(
      `select ${EP_COLUMNS} from expected_payment where tenant_id = $1 and id = any($2::uuid[]) order by created_at, id`,
      [caller.tenantId, ids],
    );
    return rows;
  }

  /** A page of the tenant's expected payments, oldest first (`limit + 1` rows). */
  async list(caller: Caller, filter: ExpectedPaymentFilter, limit: number, after?: { createdAt: Date; id: string }): Promise<ExpectedPaymentRecord[]> {
    const params: unknown[] = [caller.tenantId];
    const p = (v: unknown) => `$${params.push(v)}`;
    const where = ['tenant_id = $1'];
    if (after) where.push(`(created_at, id) > (${p(after.createdAt)}::timestamptz, ${p(after.id)}::uuid)`);
    if (filter.status) where.push(`status = ${p(filter.status)}`);
    if (filter.dueBefore) where.push(`due_date < ${p(filter.dueBefore)}::date`);
    if (filter.endUserId) where.push(`end_user_id = ${p(filter.endUserId)}::uuid`);
    if (filter.counterparty) {
      const pattern = p(`%${filter.counterparty.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
      where.push(`(counterparty_name ilike ${pattern} or counterparty_iban = upper(replace(${p(filter.counterparty)}, ' ', '')))`);
    }
    const { rows } = await this.deps.sql.query<ExpectedPaymentRecord>(
      `select ${EP_COLUMNS} from expected_payment where ${where.join(' and ')} order by created_at, id limit ${p(limit)}`,
      params,
    );
    return rows;
  }

  /** CANCELLED (nothing more is expected) or CLOSED (settled as it stands). Live suggestions on it are rejected. */
  async finish(caller: Caller, id: string | null, to: 'CANCELLED' | 'CLOSED'): Promise<Outcome<ExpectedPaymentRecord>> {
    const notFound = { ok: false as const, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'no expected payment with this id')] };
    if (!id) return notFound;
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ status: ExpectedPaymentStatus }>(
        'select status from expected_payment where tenant_id = $1 and id = $2 for update',
        [caller.tenantId, id],
      );
      if (!rows[0]) return notFound;
      const allowed = to === 'CANCELLED' ? ['OPEN', 'PARTIALLY_PAID'] : ['OPEN', 'PARTIALLY_PAID', 'PAID', 'OVERPAID'];
      if (!allowed.includes(rows[0].status))
        return { ok: false as const, userErrors: [problem(['id'], ProblemCode.INVALID_STATE, `a ${rows[0].status} expected payment cannot become ${to}`)] };
      await client.query(
        `update reconciliation_match m set status = 'REJECTED', decided_by = $3, decided_at = now() where m.tenant_id = $1 and m.status = 'SUGGESTED'
           and exists (select 1 from reconciliation_allocation a where a.match_id = m.id and a.expected_payment_id = $2)`,
        [caller.tenantId, id, actor(caller)],
      );
      const { rows: updated } = await client.query<ExpectedPaymentRecord>(
        `update expected_payment set status = $3, updated_at = now() where tenant_id = $1 and id = $2 returning ${EP_COLUMNS}`,
        [caller.tenantId, id, to],
      );
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action: to === 'CANCELLED' ? AuditAction.EXPECTED_PAYMENT_CANCELLED : AuditAction.EXPECTED_PAYMENT_CLOSED,
        actor: actor(caller),
        resourceType: 'ExpectedPayment',
        resourceId: id,
      });
      return { ok: true as const, value: updated[0]! };
    });
  }

  // ── Matching ───────────────────────────────────────────────────────────────

  /**
   * The sync's hook, inside its transaction: removed transactions give back what they paid
   * (their matches become REVERSED), modified ones whose amount no longer covers their match are
   * undone, and new or modified unmatched ones are matched. Returns the events to append.
   */
  async onSyncWrite(client: pg.PoolClient, changes: SyncChanges): Promise<NewEvent[]> {
    const { tenantId } = changes;
    const touched: string[] = [];
    if (changes.removed.length > 0) {
      const { rows } = await client.query<{ expectedPaymentId: string }>(
        `with r as (update reconciliation_match set status = 'REVERSED', decided_by = 'sync', decided_at = now()
           where tenant_id = $1 and transaction_id = any($2::uuid[]) and status in ('SUGGESTED', 'CONFIRMED') returning id)
         select a.expected_payment_id as "expectedPaymentId" from reconciliation_allocation a join r on r.id = a.match_id`,
        [tenantId, changes.removed],
      );
      touched.push(...rows.map((r) => r.expectedPaymentId));
    }
    if (changes.modified.length > 0) {
      // A corrected amount that no longer covers what its match allocated: the match is undone and the transaction matched again.
      const { rows } = await client.query<{ expectedPaymentId: string }>(
        `with bad as (
           select m.id from reconciliation_match m join bank_transaction t on t.id = m.transaction_id
           where m.tenant_id = $1 and m.transaction_id = any($2::uuid[]) and m.status in ('SUGGESTED', 'CONFIRMED') and m.payment_id is null
           group by m.id, t.amount having abs(t.amount) < (select coalesce(sum(abs(a.amount)), 0) from reconciliation_allocation a where a.match_id = m.id)),
         u as (update reconciliation_match m set status = 'UNDONE', decided_by = 'sync', decided_at = now() from bad where m.id = bad.id returning m.id)
         select a.expected_payment_id as "expectedPaymentId" from reconciliation_allocation a join u on u.id = a.match_id`,
        [tenantId, changes.modified],
      );
      touched.push(...rows.map((r) => r.expectedPaymentId));
    }
    const changed = [...changes.added, ...changes.modified];
    let saved: SavedMatch[] = [];
    // An end user with no open item and no payment of theirs has nothing a transaction could
    // settle: a first sync of 100,000 rows then skips reading them all back for a matcher that
    // would propose nothing (they stay in the backlog for an item added later).
    if (changed.length > 0 && (await anythingToMatch(client, tenantId, changes.accountId))) {
      const txs = await loadUnmatched(client, tenantId, changed);
      const matched = await this.matchBatch(client, tenantId, txs, null, 'matcher');
      saved = matched.saved;
      touched.push(...matched.touched);
    }
    const transitions = await recompute(client, tenantId, touched);
    return reconciliationEvents(tenantId, transitions, saved);
  }

  /** Runs the matcher on a batch and stores its proposals; `index` may be shared across batches (the backlog). */
  private async matchBatch(
    client: pg.PoolClient,
    tenantId: string,
    txs: TxForMatch[],
    shared: MatchIndex | null,
    by: string,
  ): Promise<{ saved: SavedMatch[]; touched: string[] }> {
    if (txs.length === 0) return { saved: [], touched: [] };
    const index = shared ?? new MatchIndex(await loadItems(client, tenantId, [...new Set(txs.map((t) => t.endUserId))]));
    const e2e = [...new Set(txs.filter((t) => t.endToEndId && t.amount < 0n).map((t) => t.endToEndId!))];
    const payments = await loadGatewayPayments(client, tenantId, e2e);
    const proposals = matchTransactions(txs, index, payments);
    const saved = await saveProposals(
      client,
      tenantId,
      new Map(txs.map((t) => [t.id, t.endUserId])),
      new Map(txs.map((t) => [t.id, t.currency])),
      proposals,
      by,
    );
    const auto = saved.filter((s) => s.status === 'CONFIRMED');
    if (auto.length > 0) {
      const rule = new Map(proposals.map((p) => [p.transactionId, p]));
      await client.query(
        `insert into audit_event (id, tenant_id, created_at, action, actor, resource_type, resource_id, details)
         select gen_random_uuid(), $1, now(), $2, $3, 'ReconciliationMatch', u.id, u.details from unnest($4::uuid[], $5::jsonb[]) as u(id, details)`,
        [
          tenantId,
          AuditAction.RECONCILIATION_AUTO_CONFIRMED,
          by,
          auto.map((s) => s.id),
          auto.map((s) => JSON.stringify({ rule: rule.get(s.transactionId)!.rule, confidence: rule.get(s.transactionId)!.confidence })),
        ],
      );
    }
    return { saved, touched: saved.flatMap((s) => s.expectedPaymentIds) };
  }

  /**
   * Matches the backlog: every live transaction of the end user's (or the tenant's) accounts never
   * matched nor rejected, oldest first, in chunks of one transaction each (one index shared by all).
   */
  async runBacklog(
    caller: Caller,
    scope: { endUserId: string | null; accountId: string | null },
  ): Promise<Outcome<{ examined: number; confirmed: number; suggested: number }>> {
    const params: unknown[] = [caller.tenantId];
    let where = 'a.tenant_id = $1';
    if (scope.accountId) where += ` and a.id = $${params.push(scope.accountId)}`;
    if (scope.endUserId) where += ` and c.end_user_id = $${params.push(scope.endUserId)}`;
    const { rows } = await this.deps.sql.query<{ id: string; endUserId: string }>(
      `select a.id, c.end_user_id as "endUserId" from account a join consent c on c.id = a.consent_id where ${where}`,
      params,
    );
    if (rows.length === 0 && (scope.accountId || scope.endUserId))
      return { ok: false, userErrors: [problem(['input', scope.accountId ? 'accountId' : 'endUserId'], ProblemCode.NOT_FOUND, 'nothing to match there')] };
    const accountIds = rows.map((r) => r.id);
    const endUsers = [...new Set(rows.map((r) => r.endUserId))];
    let examined = 0;
    let confirmed = 0;
    let suggested = 0;
    let index: MatchIndex | null = null;
    let after: { date: string; id: string } | null = null;
    for (;;) {
      const done: boolean = await this.transaction(async (client) => {
        index ??= new MatchIndex(await loadItems(client, caller.tenantId, endUsers));
        const txs = await loadBacklog(client, caller.tenantId, accountIds, after, BACKLOG_CHUNK);
        if (txs.length === 0) return true;
        after = { date: txs.at(-1)!.date, id: txs.at(-1)!.id };
        const { saved, touched } = await this.matchBatch(client, caller.tenantId, txs, index, 'matcher');
        const transitions = await recompute(client, caller.tenantId, touched);
        await appendEvents(client, reconciliationEvents(caller.tenantId, transitions, saved));
        examined += txs.length;
        confirmed += saved.filter((s) => s.status === 'CONFIRMED').length;
        suggested += saved.filter((s) => s.status === 'SUGGESTED').length;
        return txs.length < BACKLOG_CHUNK;
      });
      this.deps.notifyEvents?.();
      if (done) break;
    }
    return { ok: true, value: { examined, confirmed, suggested } };
  }

  // ── Review ─────────────────────────────────────────────────────────────────

  async match(caller: Caller, id: string | null): Promise<MatchRecord | null> {
    if (!id) return null;
    const { rows } = await this.deps.sql.query<MatchRecord>(`select ${MATCH_COLUMNS} from reconciliation_match m where m.tenant_id = $1 and m.id = $2`, [
      caller.tenantId,
      id,
    ]);
    return rows[0] ?? null;
  }

  /** A page of matches, oldest first (`limit + 1` rows). */
  async matches(
    caller: Caller,
    filter: { status?: string | null; expectedPaymentId?: string | null; transactionId?: string | null },
    limit: number,
    after?: { createdAt: Date; id: string },
  ): Promise<MatchRecord[]> {
    const params: unknown[] = [caller.tenantId];
    const p = (v: unknown) => `$${params.push(v)}`;
    const where = ['m.tenant_id = $1'];
    if (after) where.push(`(m.created_at, m.id) > (${p(after.createdAt)}::timestamptz, ${p(after.id)}::uuid)`);
    if (filter.status) where.push(`m.status = ${p(filter.status)}`);
    if (filter.transactionId) where.push(`m.transaction_id = ${p(filter.transactionId)}::uuid`);
    if (filter.expectedPaymentId)
      where.push(`exists (select 1 from reconciliation_allocation a where a.match_id = m.id and a.expected_payment_id = ${p(filter.expectedPaymentId)}::uuid)`);
    const { rows } = await this.deps.sql.query<MatchRecord>(
      `select ${MATCH_COLUMNS} from reconciliation_match m where ${where.join(' and ')} order by m.created_at, m.id limit ${p(limit)}`,
      params,
    );
    return rows;
  }

  /** reconciliationConfirm / Reject / Undo: one state change of a match, journaled with its actor. */
  async decide(caller: Caller, id: string | null, decision: 'CONFIRM' | 'REJECT' | 'UNDO'): Promise<Outcome<MatchRecord>> {
    const notFound = { ok: false as const, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'no match with this id')] };
    if (!id) return notFound;
    const from: Record<typeof decision, string[]> = { CONFIRM: ['SUGGESTED'], REJECT: ['SUGGESTED', 'CONFIRMED'], UNDO: ['CONFIRMED', 'REJECTED'] };
    const to = { CONFIRM: 'CONFIRMED', REJECT: 'REJECTED', UNDO: 'UNDONE' }[decision];
    const action = { CONFIRM: AuditAction.RECONCILIATION_CONFIRMED, REJECT: AuditAction.RECONCILIATION_REJECTED, UNDO: AuditAction.RECONCILIATION_UNDONE }[
      decision
    ];
    const result = await this.transaction(async (client) => {
      const { rows } = await client.query<{ status: string }>('select status from reconciliation_match where tenant_id = $1 and id = $2 for update', [
        caller.tenantId,
        id,
      ]);
      if (!rows[0]) return notFound;
      if (!from[decision].includes(rows[0].status))
        return {
          ok: false as const,
          userErrors: [
            problem(['id'], ProblemCode.INVALID_STATE, `a ${rows[0].status} match cannot be ${decision.toLowerCase()}${decision === 'UNDO' ? 'ne' : 'ed'}`),
          ],
        };
      await client.query('update reconciliation_match set status = $3, decided_by = $4, decided_at = now() where tenant_id = $1 and id = $2', [
        caller.tenantId,
        id,
        to,
        actor(caller),
      ]);
      const { rows: eps } = await client.query<{ id: string }>('select expected_payment_id as id from reconciliation_allocation where match_id = $1', [id]);
      const transitions = await recompute(
        client,
        caller.tenantId,
        eps.map((e) => e.id),
      );
      await appendEvents(client, reconciliationEvents(caller.tenantId, transitions, []));
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action,
        actor: actor(caller),
        resourceType: 'ReconciliationMatch',
        resourceId: id,
        details: { from: rows[0].status, to },
      });
      return { ok: true as const, value: id };
    });
    if (!result.ok) return result;
    this.deps.notifyEvents?.();
    return { ok: true, value: (await this.match(caller, result.value))! };
  }

  /**
   * reconciliationMatch: a confirmed match made by hand, of all or part of a transaction to one or
   * several expected payments. Nothing may exceed the transaction's amount nor an expected
   * payment's open amount (plus tolerance); everything must be the same end user's.
   */
  async manualMatch(caller: Caller, transactionId: string | null, allocations: ManualAllocation[]): Promise<Outcome<MatchRecord>> {
    const errors: Problem[] = [];
    if (!transactionId) return { ok: false, userErrors: [problem(['input', 'transactionId'], ProblemCode.NOT_FOUND, 'no transaction with this id')] };
    if (allocations.length < 1 || allocations.length > 100)
      return { ok: false, userErrors: [problem(['input', 'allocations'], ProblemCode.OUT_OF_RANGE, 'give 1–100 allocations')] };
    const result = await this.transaction(async (client) => {
      const { rows: txRows } = await client.query<{ id: string; amount: string; currency: string; endUserId: string }>(
        `select t.id, t.amount::text as amount, t.currency, c.end_user_id as "endUserId" from bank_transaction t join account a on a.id = t.account_id join consent c on c.id = a.consent_id
         where t.tenant_id = $1 and t.id = $2 and t.removed_at is null for update of t`,
        [caller.tenantId, transactionId],
      );
      const tx = txRows[0];
      if (!tx) return { ok: false as const, userErrors: [problem(['input', 'transactionId'], ProblemCode.NOT_FOUND, 'no transaction with this id')] };
      const ids = allocations.map((a) => a.expectedPaymentId).filter((x): x is string => !!x);
      const items = new Map((await loadItems(client, caller.tenantId, [tx.endUserId])).map((i) => [i.id, i]));
      const { rows: owners } = await client.query<{ id: string; endUserId: string; status: string }>(
        'select id, end_user_id as "endUserId", status from expected_payment where tenant_id = $1 and id = any($2::uuid[])',
        [caller.tenantId, ids],
      );
      const owner = new Map(owners.map((o) => [o.id, o]));
      const txMinor = toMinor(tx.amount, tx.currency);
      const magnitude = txMinor < 0n ? -txMinor : txMinor;
      let total = 0n;
      const rows: [string, bigint][] = [];
      allocations.forEach((a, i) => {
        const field = ['input', 'allocations', String(i)];
        const o = a.expectedPaymentId ? owner.get(a.expectedPaymentId) : undefined;
        if (!o) return void errors.push(problem([...field, 'expectedPaymentId'], ProblemCode.NOT_FOUND, 'no expected payment with this id'));
        if (o.endUserId !== tx.endUserId)
          return void errors.push(
            problem([...field, 'expectedPaymentId'], ProblemCode.END_USER_MISMATCH, 'the expected payment belongs to another end user than the transaction'),
          );
        const item = items.get(o.id);
        if (!item)
          return void errors.push(problem([...field, 'expectedPaymentId'], ProblemCode.INVALID_STATE, `a ${o.status} expected payment takes no matches`));
        if (item.currency !== tx.currency)
          return void errors.push(
            problem([...field, 'expectedPaymentId'], ProblemCode.INVALID, `the expected payment is in ${item.currency}, the transaction in ${tx.currency}`),
          );
        if ((item.direction === 'INCOMING') !== txMinor > 0n)
          return void errors.push(
            problem([...field, 'expectedPaymentId'], ProblemCode.INVALID, 'an incoming expected payment takes credits, an outgoing one debits'),
          );
        if (!/^\d{1,15}(\.\d{1,18})?$/.test(a.amount) || /^0*(\.0*)?$/.test(a.amount))
          return void errors.push(problem([...field, 'amount'], ProblemCode.INVALID_AMOUNT, 'must be a positive decimal string'));
        if ((a.amount.split('.')[1] ?? '').replace(/0+$/, '').length > currencyDigits(tx.currency))
          return void errors.push(
            problem([...field, 'amount'], ProblemCode.AMOUNT_PRECISION, `${tx.currency} amounts have at most ${currencyDigits(tx.currency)} decimals`),
          );
        const minor = toMinor(a.amount, tx.currency);
        if (minor > item.open + item.toleranceAmount)
          return void errors.push(
            problem(
              [...field, 'amount'],
              ProblemCode.AMOUNT_EXCEEDED,
              `the expected payment has ${fromMinor(item.open > 0n ? item.open : 0n, tx.currency)} ${tx.currency} open`,
            ),
          );
        total += minor;
        rows.push([o.id, minor]);
      });
      if (errors.length === 0 && total > magnitude)
        errors.push(
          problem(
            ['input', 'allocations'],
            ProblemCode.AMOUNT_EXCEEDED,
            `the allocations (${fromMinor(total, tx.currency)}) exceed the transaction's ${fromMinor(magnitude, tx.currency)} ${tx.currency}`,
          ),
        );
      if (errors.length > 0) return { ok: false as const, userErrors: errors };
      const id = randomUUID();
      const inserted = await client.query(
        `insert into reconciliation_match (id, tenant_id, end_user_id, transaction_id, status, rule, confidence, agreeing_fields, decided_by, decided_at, created_at)
         values ($1, $2, $3, $4, 'CONFIRMED', 'MANUAL', 1, '{}', $5, now(), now()) on conflict (transaction_id) where status in ('SUGGESTED', 'CONFIRMED') do nothing returning id`,
        [id, caller.tenantId, tx.endUserId, tx.id, actor(caller)],
      );
      if (inserted.rowCount === 0)
        return {
          ok: false as const,
          userErrors: [problem(['input', 'transactionId'], ProblemCode.ALREADY_MATCHED, 'the transaction is already matched: reject or undo that match first')],
        };
      await insertAllocations(
        client,
        caller.tenantId,
        rows.map(([ep, minor]) => [id, ep, fromMinor(minor, tx.currency)]),
      );
      const transitions = await recompute(
        client,
        caller.tenantId,
        rows.map(([ep]) => ep),
      );
      await appendEvents(client, reconciliationEvents(caller.tenantId, transitions, []));
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action: AuditAction.RECONCILIATION_MATCHED,
        actor: actor(caller),
        resourceType: 'ReconciliationMatch',
        resourceId: id,
        details: { allocations: rows.length, amount: fromMinor(total, tx.currency) },
      });
      return { ok: true as const, value: id };
    });
    if (!result.ok) return result;
    this.deps.notifyEvents?.();
    return { ok: true, value: (await this.match(caller, result.value))! };
  }

  // ── Overdue ────────────────────────────────────────────────────────────────

  /** The daily tick: each open item past its due date plus tolerance days is announced once. */
  async overdueTick(today: string): Promise<number> {
    const n = await this.transaction(async (client) => {
      const { rows } = await client.query<{
        id: string;
        tenantId: string;
        externalId: string | null;
        dueDate: string;
        amount: string;
        paidAmount: string;
        currency: string;
        status: string;
      }>(
        `update expected_payment set overdue_notified_at = now()
         where status in ('OPEN', 'PARTIALLY_PAID') and overdue_notified_at is null and due_date + tolerance_days < $1::date
         returning id, tenant_id as "tenantId", external_id as "externalId", to_char(due_date, 'YYYY-MM-DD') as "dueDate", amount::text as amount, paid_amount::text as "paidAmount", currency, status`,
        [today],
      );
      await appendEvents(
        client,
        rows.map((r) => ({
          tenantId: r.tenantId,
          type: EventType.EXPECTED_PAYMENT_OVERDUE,
          resourceType: 'ExpectedPayment' as const,
          resourceId: r.id,
          payload: {
            expectedPaymentId: toGlobalId('ExpectedPayment', r.id),
            externalId: r.externalId,
            status: r.status,
            dueDate: r.dueDate,
            amount: { amount: r.amount, currency: r.currency },
            paidAmount: { amount: r.paidAmount, currency: r.currency },
          },
        })),
      );
      return rows.length;
    });
    if (n > 0) this.deps.notifyEvents?.();
    return n;
  }

  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.deps.sql, fn);
  }
}

/** Thrown inside a transaction to roll it back and answer userErrors. */
class Rollback extends Error {
  constructor(readonly userErrors: Problem[]) {
    super('rolled back');
  }
}

export type { OpenItem, Proposal };
