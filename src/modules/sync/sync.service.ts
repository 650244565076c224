import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { isIP } from 'node:net';
import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { ProblemCode, problem } from '../../kernel/problems';
import type { AdapterRegistry } from '../../banking/adapters';
import { BankError, BankErrorCode, isBankError } from '../../banking/errors';
import type { CanonicalBalance, CanonicalTransaction, InstitutionDescriptor } from '../../banking/model';
import type { BankCallContext, ConsentAccess } from '../../banking/ports';
import type { Jobs } from '../../platform/jobs';
import type { Logger } from '../../platform/logger';
import type { Metrics } from '../../platform/metrics';
import { Account, type SyncStatus } from '../accounts/account.entity';
import { AuditAction, type AuditService } from '../audit';
import { renewableConsentStatuses, usableConsentStatuses, type ConsentStatus } from '../consents';
import type { ConsentsService } from '../consents';
import type { Outcome } from '../../kernel/problems';
import { FirstSyncReconciler, reconcile } from '../transactions';
import { applyChanges, discardUnpublished, latestBookingSql, loadWindow, TransactionStaging, type AppliedChanges } from '../transactions';
import { merged, prefetched } from './prefetch';
import { addDays, budgetResetsAt, nextBackgroundSlot, utcDay } from './budget';
import { appendEvents, chunked, EventType, type NewEvent } from '../events';
import { toGlobalId } from '../../kernel/ids';
import { normaliseIp } from '../../platform/ip';
import { standards } from '../../banking/standards';

/** Whether the end user is at the screen (the bank does not count the read) or not (it counts). */
export type SyncMode = 'USER_PRESENT' | 'BACKGROUND';

/** One sync of one account, as a job carries it. */
export interface SyncRequest {
  accountId: string;
  mode: SyncMode;
  /** The end user's IP address, sent to the bank as `PSU-IP-Address` (USER_PRESENT only). */
  psuIpAddress?: string | null;
  reason: 'INITIAL' | 'SCHEDULED' | 'REQUESTED' | 'RECOVERY' | 'RATE_LIMITED';
}

/** What a sync did. */
export interface SyncOutcome {
  /** BUSY: another worker is syncing the account; GONE: the account no longer exists. */
  status: SyncStatus | 'BUSY' | 'GONE';
  added: number;
  modified: number;
  removed: number;
  bankCalls: number;
}

/** Remaining unattended reads of an account today, and when the counter starts again. */
export interface SyncBudget {
  remaining: number;
  resetsAt: Date;
}

/** Data scopes a sync reads, each with its own daily counter at the bank. */
type DataScope = 'BALANCES' | 'TRANSACTIONS';

/** Days re-read before the last booked date: late bookings and corrections land there. */
export const SYNC_OVERLAP_DAYS = 3;
export const SYNC_QUEUE = 'account-sync';
export const SYNC_TICK_QUEUE = 'account-sync-tick';
const SYNC_LOCK_CLASS = 4_242_002;

export interface SyncDeps {
  orm: MikroORM;
  sql: pg.Pool;
  consents: ConsentsService;
  adapters: AdapterRegistry;
  audit: AuditService;
  logger: Logger;
  /** Durable jobs; null runs syncs in-process only (tools, some tests). */
  jobs: Jobs | null;
  /** Large first syncs load with COPY (PostgreSQL; embedded PGlite uses batched INSERTs). */
  bulkCopy?: boolean;
  /** Called after a commit that wrote events, so live subscribers read them at once. */
  notifyEvents?: () => void;
  /** Counts and times each sync by outcome and mode. */
  metrics?: Pick<Metrics, 'syncJob'>;
  /** Called after a sync committed changes (the event log hooks in here). */
  onChanges?: (change: { tenantId: string; accountId: string; applied: AppliedChanges }) => Promise<void>;
  /** Called inside the sync's transaction once its transactions are stored; returns events to append with the sync's (reconciliation hooks in here). */
  onWrite?: (
    client: pg.PoolClient,
    change: { tenantId: string; accountId: string; added: string[]; modified: string[]; removed: string[] },
  ) => Promise<NewEvent[]>;
}

/**
 * The sync engine: reads an account's balances and transactions from its bank and stores them
 * with stable identity, published by one database transaction per sync, under a per-account lock (two
 * workers never sync one account at once). Background reads never exceed the consent's
 * `frequencyPerDay`; the bank's own limits and consent refusals are handled, not hammered.
 */
export class SyncService {
  /** Accounts syncing in this process (PGlite shares one session, so advisory locks alone can't tell). */
  private readonly running = new Set<string>();

  constructor(private readonly deps: SyncDeps) {}

  /** Declares the queues and, with `concurrency` > 0, starts this process's workers and the minute tick. */
  async start(options: { concurrency: number }): Promise<void> {
    const jobs = this.deps.jobs;
    if (!jobs) return;
    await jobs.define(SYNC_QUEUE, { retryLimit: 6, retryDelay: 30, retryBackoff: true, expireInSeconds: 30 * 60 });
    await jobs.define(SYNC_TICK_QUEUE, { retryLimit: 0, expireInSeconds: 120 });
    if (options.concurrency <= 0) return;
    await jobs.work<SyncRequest>(SYNC_QUEUE, { concurrency: options.concurrency, pollingIntervalSeconds: 0.5 }, async (job) => {
      await this.run(job.data);
    });
    await jobs.work<Record<string, never>>(SYNC_TICK_QUEUE, { concurrency: 1, pollingIntervalSeconds: 2 }, async () => {
      await this.tick();
    });
    await jobs.schedule(SYNC_TICK_QUEUE, '* * * * *');
    await this.recover();
  }

  /** Queues a sync; returns false when it could not be queued (no job runner). */
  async enqueue(request: SyncRequest, startAfter?: Date): Promise<boolean> {
    if (!this.deps.jobs) return false;
    await this.deps.jobs.send(SYNC_QUEUE, request, startAfter ? { startAfter } : {});
    return true;
  }

  /** After a consent becomes ACTIVE: the first (full-history) sync of each of its accounts, the end user being present. */
  async syncConsentAccounts(consentId: string, psuIpAddress: string | null): Promise<void> {
    const em = this.deps.orm.em.fork();
    const accounts = await em.find(Account, { consent: consentId });
    const ip = normaliseIp(psuIpAddress);
    for (const a of accounts) {
      a.syncStatus = 'QUEUED';
      await em.flush();
      await this.enqueue({ accountId: a.id, mode: ip ? 'USER_PRESENT' : 'BACKGROUND', psuIpAddress: ip, reason: 'INITIAL' });
    }
  }

  /** `accountSync`: checks what the caller asks, then queues the sync. */
  async request(
    em: EntityManager,
    caller: Caller,
    accountId: string | null,
    mode: SyncMode,
    psuIpAddress: string | null | undefined,
  ): Promise<Outcome<Account>> {
    const account = accountId ? await em.findOne(Account, { id: accountId, tenant: caller.tenantId }, { populate: ['consent'] }) : null;
    if (!account) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'No account with this id.')] };
    if (mode === 'USER_PRESENT' && !psuIpAddress) {
      return { ok: false, userErrors: [problem(['input', 'psuIpAddress'], ProblemCode.BLANK, 'A user-present sync needs the end user’s IP address.')] };
    }
    if (psuIpAddress && !isIP(psuIpAddress)) {
      return { ok: false, userErrors: [problem(['input', 'psuIpAddress'], ProblemCode.INVALID, 'Not an IPv4 or IPv6 address.')] };
    }
    if (!usableConsentStatuses.has(account.consent.status)) {
      return {
        ok: false,
        userErrors: [
          problem(
            ['id'],
            ProblemCode.INVALID_STATE,
            `The account’s consent is ${account.consent.status}; ${consentRemedy(account.consent.status)} before syncing.`,
          ),
        ],
      };
    }
    if (mode === 'BACKGROUND') {
      const budget = await this.budget(account);
      if (budget.remaining <= 0) {
        return {
          ok: false,
          userErrors: [
            problem(
              ['input', 'mode'],
              ProblemCode.BUDGET_EXHAUSTED,
              `No unattended reads left today; the budget resets at ${budget.resetsAt.toISOString()}. A USER_PRESENT sync does not count.`,
            ),
          ],
        };
      }
    }
    if (!this.deps.jobs) return { ok: false, userErrors: [problem(['id'], ProblemCode.INVALID_STATE, 'This gateway runs no sync workers.')] };
    account.syncStatus = 'QUEUED';
    await em.flush();
    await this.enqueue({ accountId: account.id, mode, psuIpAddress: mode === 'USER_PRESENT' ? psuIpAddress : null, reason: 'REQUESTED' });
    return { ok: true, value: account };
  }

  /** Today's remaining unattended reads: the smallest remainder over the scopes a sync reads. */
  async budget(account: Account): Promise<SyncBudget> {
    const now = new Date();
    const consent = account.consent;
    const scopes = dataScopes(consent.scopes);
    const used = await this.usage(consent.id, account.id, utcDay(now));
    const remaining = scopes.length === 0 ? 0 : Math.min(...scopes.map((s) => Math.max(0, consent.frequencyPerDay - (used.get(s) ?? 0))));
    return { remaining, resetsAt: budgetResetsAt(now) };
  }

  /** Every minute (one process runs it): queue the background syncs that are due. */
  async tick(now = new Date()): Promise<number> {
    const { rows } = await this.deps.sql.query<{ id: string }>(
      // Pushing next_sync_at a little ahead is the claim: a lost job is queued again after it.
      `update account a set next_sync_at = $1::timestamptz + interval '15 minutes'
       from consent c where c.id = a.consent_id and c.status in ('ACTIVE', 'EXPIRING')
         and a.next_sync_at is not null and a.next_sync_at <= $1::timestamptz and a.sync_status not in ('RUNNING', 'QUEUED')
       returning a.id`,
      [now.toISOString()],
    );
    for (const r of rows) await this.enqueue({ accountId: r.id, mode: 'BACKGROUND', reason: 'SCHEDULED' });
    return rows.length;
  }

  /**
   * At start: syncs a crash interrupted are queued again. An account still RUNNING whose lock
   * nobody holds was being synced by a process that died (another live instance would hold it).
   */
  async recover(): Promise<number> {
    const { rows } = await this.deps.sql.query<{ id: string; mode: SyncMode | null; ip: string | null }>(
      `select id, running_sync_mode as mode, running_sync_psu_ip as ip from account where sync_status = 'RUNNING'`,
    );
    let queued = 0;
    for (const r of rows) {
      if (this.running.has(r.id)) continue;
      const client = await this.deps.sql.connect();
      try {
        const free = (await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [SYNC_LOCK_CLASS, r.id])).rows[0]!.ok;
        if (!free) continue;
        await client.query('select pg_advisory_unlock($1, hashtext($2))', [SYNC_LOCK_CLASS, r.id]);
      } finally {
        client.release();
      }
      await this.deps.sql.query(`update account set sync_status = 'QUEUED' where id = $1 and sync_status = 'RUNNING'`, [r.id]);
      // Resumed as it was: a user-present sync stays user-present (uncounted, with the end user's IP).
      const present = r.mode === 'USER_PRESENT' && r.ip !== null;
      await this.enqueue({ accountId: r.id, mode: present ? 'USER_PRESENT' : 'BACKGROUND', psuIpAddress: present ? r.ip : null, reason: 'RECOVERY' });
      queued++;
    }
    if (queued > 0) this.deps.logger.info({ queued }, 'sync: interrupted syncs queued again');
    return queued;
  }

  /**
   * Runs one sync now (the job handler; tests call it directly). Bank errors that retrying cannot
   * fix end the sync with a status; transient ones are rethrown for the queue to retry with backoff.
   */
  run(request: SyncRequest): Promise<SyncOutcome> {
    const metrics = this.deps.metrics;
    return metrics ? metrics.syncJob(request.mode, () => this.runOnce(request)) : this.runOnce(request);
  }

  private async runOnce(request: SyncRequest): Promise<SyncOutcome> {
    const none = (status: SyncOutcome['status'], bankCalls = 0): SyncOutcome => ({ status, added: 0, modified: 0, removed: 0, bankCalls });
    if (this.running.has(request.accountId)) return none('BUSY');
    this.running.add(request.accountId);
    const client = await this.deps.sql.connect();
    let locked = false;
    try {
      locked = (await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [SYNC_LOCK_CLASS, request.accountId])).rows[0]!.ok;
      if (!locked) return none('BUSY');
      return await this.runLocked(client, request, 0);
    } finally {
      if (locked) {
        // Finished one way or another: the end user's IP is not kept beyond the sync.
        await client
          .query('update account set running_sync_mode = null, running_sync_psu_ip = null where id = $1 and running_sync_mode is not null', [request.accountId])
          .catch(() => undefined);
        await client.query('select pg_advisory_unlock($1, hashtext($2))', [SYNC_LOCK_CLASS, request.accountId]).catch(() => undefined);
      }
      client.release();
      this.running.delete(request.accountId);
    }
  }

  /** `restarts`: how often this sync started over because the consent was authorised again while it read. */
  private async runLocked(client: pg.PoolClient, request: SyncRequest, restarts: number): Promise<SyncOutcome> {
    const em = this.deps.orm.em.fork();
    const account = await em.findOne(Account, { id: request.accountId }, { populate: ['consent', 'tenant'] });
    if (!account) return { status: 'GONE', added: 0, modified: 0, removed: 0, bankCalls: 0 };
    const consent = account.consent;
    /** The authorisation whose tokens this sync reads with: a refusal of them says nothing about a later one. */
    let authorisation = consent.authorizedAt;
    const frequency = consent.frequencyPerDay;
    const finish = async (status: SyncStatus, error: string | null, nextSyncAt: Date | null) => {
      await client.query('update account set sync_status = $2, sync_error = $3, next_sync_at = $4 where id = $1', [account.id, status, error, nextSyncAt]);
      return { status, added: 0, modified: 0, removed: 0, bankCalls };
    };
    let bankCalls = 0;

    const data = await this.deps.consents.dataAccess(em, consent.id).catch((err: unknown) => {
      if (isBankError(err)) return err;
      throw err;
    });
    const refused = (err: BankError) => this.onBankError(client, account, request, err, { bankCalls, authorisation, restarts }, finish);
    if (data instanceof BankError) return refused(data);
    if (!data) return finish('CONSENT_INVALID', `The consent is ${consent.status}; ${consentRemedy(consent.status)} to sync again.`, null);
    authorisation = data.consent.authorizedAt;

    let scopes = dataScopes(consent.scopes);
    const today = utcDay(new Date());
    if (request.mode === 'BACKGROUND') {
      const used = await this.usage(consent.id, account.id, today, client);
      scopes = scopes.filter((s) => (used.get(s) ?? 0) < frequency);
      if (scopes.length === 0) {
        const resetsAt = budgetResetsAt(new Date());
        return finish('WAITING_FOR_QUOTA', 'Today’s unattended reads are used up.', nextBackgroundSlot(account.id, frequency, resetsAt));
      }
    }
    // Kept while it runs, so a sync a crash interrupts resumes as what it was (see recover).
    await client.query(`update account set sync_status = 'RUNNING', running_sync_mode = $2, running_sync_psu_ip = $3 where id = $1`, [
      account.id,
      request.mode,
      request.mode === 'USER_PRESENT' ? (request.psuIpAddress ?? null) : null,
    ]);
    // What a first sync cut short (a crash, a lost connection) committed and never published.
    const unpublished = await discardUnpublished(client, account.id);
    if (unpublished > 0) this.deps.logger.info({ accountId: account.id, rows: unpublished }, 'sync: unpublished rows of an unfinished first sync deleted');

    const ctx: BankCallContext = {
      institution: data.institution,
      ...(request.mode === 'USER_PRESENT' && request.psuIpAddress ? { psuIpAddress: request.psuIpAddress } : {}),
    };
    // A sync that stored no booked transaction yet (balances only, or the bank had nothing) has not
    // read the history: the next one reads it all, not from today minus the overlap.
    const initial = account.lastSyncedAt === null || account.lastBookedDate === null;
    const dateFrom = initial
      ? addDays(today, -Math.min(consent.historyDays, data.institution.maxHistoryDays))
      : await this.incrementalFrom(client, account, today);
    const adapter = this.deps.adapters.for(data.institution);
    let balances: CanonicalBalance[] | null = null;
    let pages: CanonicalTransaction[][] | null = null;
    /** A first sync on PostgreSQL: its pages are reconciled and staged as they arrive (see FirstSyncWrite). */
    let streamed: FirstSyncWrite | null = null;
    /** The latest attempt's rows, deleted when the sync ends without publishing them. */
    let staging: FirstSyncWrite | null = null;
    const discardStaging = () =>
      staging?.copy.discard().catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'sync: unpublished rows not deleted'));
    let access: ConsentAccess = data.access;
    // Each scope read counts once per sync, however often it is asked again (token refresh, a throttled retry).
    const counted = new Set<DataScope>();
    let inFlight: DataScope | null = null;
    // An upstream aggregator counts every read against the bank's daily limit, present end user or not (quirk `userPresentReadsCounted`).
    const metered = request.mode === 'BACKGROUND' || data.institution.quirks.userPresentReadsCounted === true;
    const count = async (scope: DataScope) => {
      bankCalls++;
      inFlight = scope;
      if (counted.has(scope)) return;
      counted.add(scope);
      if (metered) await this.countUse(client, consent.id, account.id, scope, today);
    };
    const read = async () => {
      // Transactions first: a bank that can return the balances with them saves the balances call.
      if (scopes.includes('TRANSACTIONS') && pages === null && streamed === null) {
        await count('TRANSACTIONS');
        const collected: CanonicalTransaction[][] = [];
        const onBalances = scopes.includes('BALANCES') ? (b: CanonicalBalance[]) => void (balances = b) : undefined;
        // Each attempt (a throttled retry, a token refresh) starts again from the first page, and from an empty write.
        await staging?.copy.discard();
        const first = initial && this.deps.bulkCopy === true ? await FirstSyncWrite.open(client, account, data.institution, dateFrom, today) : null;
        staging = first;
        // A first read the bank does not count may read date ranges side by side, where the bank allows it.
        const listings = first && !metered ? sideBySide(data.institution, dateFrom, today) : null;
        if (first && listings) {
          const sources = listings.map((window, i) =>
            prefetched(
              adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { ...window, ...(i === 0 && onBalances ? { onBalances } : {}) }),
              SYNC_PREFETCH_PAGES,
            ),
          );
          for await (const [listing, page] of merged(sources)) await first.add(page, listing);
        } else {
          const source = adapter.accounts.listTransactions(ctx, access, account.bankAccountId, { dateFrom, dateTo: null, status: 'BOTH', onBalances });
          for await (const page of prefetched(source, SYNC_PREFETCH_PAGES)) {
            if (first) await first.add(page);
            else collected.push(page);
          }
        }
        if (first) {
          await first.stored();
          streamed = first;
        } else pages = collected;
        inFlight = null;
      }
      if (scopes.includes('BALANCES') && balances === null) {
        await count('BALANCES');
        balances = await adapter.accounts.getBalances(ctx, access, account.bankAccountId);
        inFlight = null;
      }
    };
    // A throttle whose wait fits is waited out inside this sync (Berlin Group answers every 429
    // ACCESS_EXCEEDED; a short Retry-After says it is a throttle, not the day's quota).
    const readThrottled = async () => {
      for (let retries = 0; ; retries++) {
        try {
          return await read();
        } catch (err) {
          const wait = isShortThrottle(err) ? err.retryAfterMs : undefined;
          if (wait === undefined || retries >= INLINE_RETRIES) throw err;
          this.deps.logger.info({ accountId: account.id, waitMs: wait }, 'sync: the bank throttles; waiting inside the sync');
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    };
    let applied: AppliedChanges;
    try {
      try {
        await this.deps.audit.withBankCallScope({ tenantId: account.tenant.id, consentId: consent.id, actor: `sync:${request.mode}` }, async () => {
          try {
            await readThrottled();
          } catch (err) {
            // An expired access token: refresh once and read again.
            if (!isBankError(err, BankErrorCode.UNAUTHORIZED) || !access.tokens?.refreshToken) throw err;
            const refreshed = await this.deps.consents.dataAccess(em, consent.id, { forceRefresh: true });
            if (!refreshed) throw err;
            access = refreshed.access;
            authorisation = refreshed.consent.authorizedAt;
            await readThrottled();
          }
        });
      } catch (err) {
        // Before anything else on this connection: no staged COPY may follow into the statements below.
        await discardStaging();
        // A throttled read the bank did not serve is no read of the day: only ACCESS_EXCEEDED (below) spends the quota.
        if (isBankError(err, BankErrorCode.RATE_LIMITED) && inFlight && metered) await this.refundUse(client, consent.id, account.id, inFlight, today);
        if (isBankError(err)) return refused(err);
        await finish('FAILED', 'The sync failed unexpectedly; it will be retried.', null);
        throw err;
      }
      applied = await this.write(client, account, data.institution, dateFrom, balances, pages, today, streamed);
    } finally {
      // The rows are published now, or are not to be kept.
      await discardStaging();
    }
    this.deps.audit.add(em, {
      tenantId: account.tenant.id,
      action: AuditAction.ACCOUNT_SYNCED,
      actor: `sync:${request.mode}`,
      resourceType: 'Account',
      resourceId: account.id,
      details: { reason: request.reason, dateFrom, added: applied.added.length, modified: applied.modified.length, removed: applied.removed.length, bankCalls },
    });
    await em.flush();
    if (this.deps.onChanges) await this.deps.onChanges({ tenantId: account.tenant.id, accountId: account.id, applied });
    return { status: 'SUCCEEDED', added: applied.added.length, modified: applied.modified.length, removed: applied.removed.length, bankCalls };
  }

  /** From the last booked date minus the overlap, and never after the oldest pending entry still open. */
  private async incrementalFrom(client: pg.PoolClient, account: Account, today: string): Promise<string> {
    const { rows } = await client.query<{ pending: string | null }>(
      `select min(sort_date) as pending from bank_transaction where account_id = $1 and removed_at is null and status = 'PENDING'`,
      [account.id],
    );
    let from = addDays(account.lastBookedDate ?? today, -SYNC_OVERLAP_DAYS);
    const pending = rows[0]?.pending;
    if (pending && pending < from) from = pending;
    return from;
  }

  /**
   * Reconciles and stores in one transaction holding the account row: all of the sync lands, or
   * none. A first sync's rows are committed already (FirstSyncWrite); this transaction publishes
   * them by setting the account's version.
   */
  private async write(
    client: pg.PoolClient,
    account: Account,
    institution: InstitutionDescriptor,
    dateFrom: string,
    balances: CanonicalBalance[] | null,
    pages: CanonicalTransaction[][] | null,
    today: string,
    streamed: FirstSyncWrite | null,
  ): Promise<AppliedChanges> {
    await client.query('begin');
    try {
      const { rows } = await client.query<{ version: string }>('select version::text as version from account where id = $1 for update', [account.id]);
      let applied: AppliedChanges = { version: rows[0]!.version, added: [], modified: [], removed: [] };
      if (streamed) {
        // Only a sync writes the account's version, and this one holds the account's sync lock.
        if (rows[0]!.version !== streamed.copy.fromVersion) throw new Error(`account ${account.id}: version moved during a first sync`);
        // The rows are committed already: this transaction publishes them with the account's version.
        await streamed.copy.publish(client);
        applied = streamed.applied;
        this.deps.logger.info(
          { accountId: account.id, dateFrom, stored: 0, ...streamed.stats, inserted: applied.added.length, load: streamed.copy.load },
          'sync: transactions reconciled as they arrived',
        );
      } else if (pages) {
        const stored = await loadWindow(client, account.id, dateFrom);
        const result = reconcile({ stored, pages, trustBankIds: institution.quirks.transactionIdsUnstable !== true, today });
        applied = await applyChanges(client, { tenantId: account.tenant.id, accountId: account.id, version: applied.version }, result, {
          copy: this.deps.bulkCopy === true,
        });
        this.deps.logger.info({ accountId: account.id, dateFrom, stored: stored.length, ...result.stats }, 'sync: transactions reconciled');
      }
      if (balances) {
        await client.query('delete from balance where account_id = $1', [account.id]);
        const list: CanonicalBalance[] = balances;
        if (list.length > 0) {
          await client.query(
            `insert into balance (id, tenant_id, account_id, kind, bank_type, amount, currency, reference_date, last_change_date_time, credit_limit_included, fetched_at)
             select gen_random_uuid(), $1, $2, u.kind, u.bank_type, u.amount, u.currency, u.reference_date, u.last_change, u.cli, now()
             from unnest($3::text[], $4::text[], $5::numeric[], $6::text[], $7::date[], $8::timestamptz[], $9::boolean[])
               as u(kind, bank_type, amount, currency, reference_date, last_change, cli)`,
            [
              account.tenant.id,
              account.id,
              list.map((b) => b.kind),
              list.map((b) => b.bankType.slice(0, 64)),
              list.map((b) => b.amount.amount),
              list.map((b) => b.amount.currency),
              list.map((b) => b.referenceDate),
              list.map((b) => b.lastChangeDateTime),
              list.map((b) => b.creditLimitIncluded),
            ],
          );
        }
      }
      const more =
        (pages || streamed) && this.deps.onWrite ? await this.deps.onWrite(client, { tenantId: account.tenant.id, accountId: account.id, ...applied }) : [];
      await appendEvents(client, [
        ...(streamed ? streamed.events : changeEvents(account.tenant.id, account.id, applied)),
        ...balanceEvents(account.tenant.id, account.id, balances),
        ...more,
      ]);
      // A first sync knows the account's latest booking already (it counted its rows as they were staged).
      const latestBooked = streamed ? '$5::date' : latestBookingSql('$1', '$2');
      await client.query(
        `update account set version = $2::bigint, last_synced_at = now(), sync_status = 'SUCCEEDED', sync_error = null, next_sync_at = $3,
           last_booked_date = coalesce(${latestBooked}, least(last_booked_date, $4::date))
         where id = $1`,
        [
          account.id,
          applied.version,
          nextBackgroundSlot(account.id, account.consent.frequencyPerDay, new Date()),
          today,
          ...(streamed ? [streamed.copy.lastBooked] : []),
        ],
      );
      await client.query('commit');
      streamed?.copy.published();
      this.deps.notifyEvents?.();
      return applied;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  }

  private async onBankError(
    client: pg.PoolClient,
    account: Account,
    request: SyncRequest,
    err: BankError,
    run: { bankCalls: number; authorisation: Date | null; restarts: number },
    finish: (status: SyncStatus, error: string | null, nextSyncAt: Date | null) => Promise<SyncOutcome>,
  ): Promise<SyncOutcome> {
    const { bankCalls } = run;
    this.deps.logger.warn({ accountId: account.id, code: err.code, operation: err.operation, httpStatus: err.httpStatus }, 'sync: the bank refused');
    const consent = account.consent;
    switch (err.code) {
      case BankErrorCode.CONSENT_EXPIRED:
      case BankErrorCode.CONSENT_INVALID:
      case BankErrorCode.UNAUTHORIZED: {
        const em = this.deps.orm.em.fork();
        const status = await this.deps.consents.reportBankRefusal(
          em,
          consent.id,
          `The bank refused the consent (${err.code}) during a sync.`,
          run.authorisation,
        );
        if (status && usableConsentStatuses.has(status)) {
          // The end user authorised the consent again while this sync read with the old tokens (a
          // renewal): nothing it read is kept; it starts over with the new ones. The renewal's own
          // sync of this account, if it comes meanwhile, finds the account busy: this one stands for it.
          if (run.restarts >= MAX_SYNC_RESTARTS) {
            return {
              ...(await finish(
                'FAILED',
                'The consent was authorised again during every attempt of this sync; the next one reads with the new authorisation.',
                new Date(),
              )),
              bankCalls,
            };
          }
          this.deps.logger.info({ accountId: account.id, code: err.code }, 'sync: the consent was authorised again while the sync read; starting over');
          const again = await this.runLocked(client, request, run.restarts + 1);
          return { ...again, bankCalls: again.bankCalls + bankCalls };
        }
        return { ...(await finish('CONSENT_INVALID', `The bank no longer accepts this consent (now ${status}); renew it.`, null)), bankCalls };
      }
      case BankErrorCode.ACCESS_EXCEEDED: {
        // The bank's day is used up: mark ours used up too and come back after its reset.
        const today = utcDay(new Date());
        for (const scope of dataScopes(consent.scopes)) await this.setUse(client, consent.id, account.id, scope, today, consent.frequencyPerDay);
        const at = err.retryAfterMs ? new Date(Date.now() + err.retryAfterMs) : budgetResetsAt(new Date());
        return { ...(await finish('WAITING_FOR_QUOTA', 'The bank’s daily access limit is reached.', at)), bankCalls };
      }
      case BankErrorCode.RATE_LIMITED: {
        const at = new Date(Date.now() + (err.retryAfterMs ?? 60_000));
        await this.enqueue({ ...request, reason: 'RATE_LIMITED' }, at);
        return { ...(await finish('WAITING_FOR_QUOTA', 'The bank asked us to slow down; the sync will resume.', at)), bankCalls };
      }
      default: {
        const reason = `The bank could not be read (${err.code}); the sync will be retried.`;
        // The status and its event land together.
        await client.query('begin');
        try {
          await finish('FAILED', reason, nextBackgroundSlot(account.id, consent.frequencyPerDay, new Date()));
          await appendEvents(client, [
            {
              tenantId: account.tenant.id,
              type: EventType.SYNC_FAILED,
              resourceType: 'Account',
              resourceId: account.id,
              payload: { accountId: toGlobalId('Account', account.id), error: reason, code: err.code },
            },
          ]);
          await client.query('commit');
          this.deps.notifyEvents?.();
        } catch (writeErr) {
          await client.query('rollback').catch(() => undefined);
          throw writeErr;
        }
        throw err;
      }
    }
  }

  private async usage(consentId: string, accountId: string, day: string, db: Pick<pg.Pool, 'query'> = this.deps.sql): Promise<Map<string, number>> {
    const { rows } = await db.query<{ scope: string; used: number }>(
      'select scope, used from sync_usage where consent_id = $1 and account_id = $2 and day = $3',
      [consentId, accountId, day],
    );
    return new Map(rows.map((r) => [r.scope, r.used]));
  }

  private async refundUse(client: pg.PoolClient, consentId: string, accountId: string, scope: DataScope, day: string): Promise<void> {
    await client.query('update sync_usage set used = greatest(used - 1, 0) where consent_id = $1 and account_id = $2 and scope = $3 and day = $4', [
      consentId,
      accountId,
      scope,
      day,
    ]);
  }

  private async countUse(client: pg.PoolClient, consentId: string, accountId: string, scope: DataScope, day: string): Promise<void> {
    await client.query(
      `insert into sync_usage (consent_id, account_id, scope, day, used) values ($1, $2, $3, $4, 1)
       on conflict (consent_id, account_id, scope, day) do update set used = sync_usage.used + 1`,
      [consentId, accountId, scope, day],
    );
  }

  private async setUse(client: pg.PoolClient, consentId: string, accountId: string, scope: DataScope, day: string, used: number): Promise<void> {
    await client.query(
      `insert into sync_usage (consent_id, account_id, scope, day, used) values ($1, $2, $3, $4, $5)
       on conflict (consent_id, account_id, scope, day) do update set used = greatest(sync_usage.used, excluded.used)`,
      [consentId, accountId, scope, day, used],
    );
  }
}

function dataScopes(scopes: readonly string[]): DataScope[] {
  return (['BALANCES', 'TRANSACTIONS'] as const).filter((s) => scopes.includes(s));
}

/** The events of a stored sync's transaction changes, in chunks of ids. */
function changeEvents(tenantId: string, accountId: string, applied: AppliedChanges): NewEvent[] {
  const account = toGlobalId('Account', accountId);
  const events: NewEvent[] = [];
  const changes: [EventType, string[]][] = [
    [EventType.TRANSACTIONS_ADDED, applied.added],
    [EventType.TRANSACTIONS_MODIFIED, applied.modified],
    [EventType.TRANSACTIONS_REMOVED, applied.removed],
  ];
  for (const [type, ids] of changes) {
    for (const chunk of chunked(ids)) {
      events.push({
        tenantId,
        type,
        resourceType: 'Account',
        resourceId: accountId,
        payload: { accountId: account, transactionIds: chunk.map((id) => toGlobalId('Transaction', id)), version: applied.version },
      });
    }
  }
  return events;
}

/** The event of a sync's new balances, if it read them. */
function balanceEvents(tenantId: string, accountId: string, balances: CanonicalBalance[] | null): NewEvent[] {
  if (!balances) return [];
  return [
    {
      tenantId,
      type: EventType.BALANCE_UPDATED,
      resourceType: 'Account',
      resourceId: accountId,
      payload: {
        accountId: toGlobalId('Account', accountId),
        balances: balances.map((b) => ({ kind: b.kind, bankType: b.bankType, amount: b.amount, referenceDate: b.referenceDate })),
      },
    },
  ];
}

/** What the developer can do about a consent that cannot be used: the same advice as consentRenew gives. */
function consentRemedy(status: ConsentStatus): string {
  return renewableConsentStatuses.has(status) ? 'renew it (consentRenew)' : 'create a new consent (consentCreate)';
}

/** A throttled bank call waited out inside a sync: at most this many times, each wait at most INLINE_WAIT_MAX_MS. */
const INLINE_RETRIES = 2;
const INLINE_WAIT_MAX_MS = 15_000;

/**
 * A sync the bank refused because the end user renewed the consent while it read starts over with
 * the new authorisation, at most this many times (each one needs the end user to authenticate again).
 */
const MAX_SYNC_RESTARTS = 2;

/** A 429 (RATE_LIMITED, or a Berlin Group ACCESS_EXCEEDED) whose Retry-After is short enough to wait for now. */
function isShortThrottle(err: unknown): err is BankError & { retryAfterMs: number } {
  if (!isBankError(err, BankErrorCode.RATE_LIMITED) && !isBankError(err, BankErrorCode.ACCESS_EXCEEDED)) return false;
  return err.retryAfterMs !== undefined && err.retryAfterMs <= INLINE_WAIT_MAX_MS;
}

/** Pages read ahead of the one being stored; one request per listing is in flight at a time whatever this is. */
const SYNC_PREFETCH_PAGES = 3;

/** Days each date range of a side-by-side read covers at least: a shorter window is one listing. */
const MIN_RANGE_DAYS = 30;

type ListingWindow = { dateFrom: string; dateTo: string | null; status: 'BOOKED' | 'PENDING' };

/**
 * The listings of a first read from `dateFrom` that a bank allowing `transactionReadLanes` > 1
 * serves side by side: the pending entries in one listing of the whole window (a bank may date them
 * by any of their dates), the booked ones in consecutive date ranges (inclusive, as Berlin Group's
 * `dateFrom`/`dateTo`; the last one open-ended like a single read), one listing fewer than the
 * lanes allowed. Together they are the same entries as one `both` listing of the window, read in
 * the time of the longest range. Null: one listing, page after page.
 */
export function sideBySide(institution: InstitutionDescriptor, dateFrom: string, today: string): ListingWindow[] | null {
  const days = Math.round((Date.parse(`${today}T00:00:00Z`) - Date.parse(`${dateFrom}T00:00:00Z`)) / 86_400_000) + 1;
  const ranges = Math.min((institution.quirks.transactionReadLanes ?? 1) - 1, Math.floor(days / MIN_RANGE_DAYS));
  if (!(ranges >= 2) || !standards.has(institution.standard) || standards.get(institution.standard).readsDateRanges !== true) return null;
  const starts = Array.from({ length: ranges }, (_, i) => addDays(dateFrom, Math.floor((days * i) / ranges)));
  return [
    { dateFrom, dateTo: null, status: 'PENDING' },
    ...starts.map((start, i): ListingWindow => ({ dateFrom: start, dateTo: i + 1 < ranges ? addDays(starts[i + 1]!, -1) : null, status: 'BOOKED' })),
  ];
}

/**
 * A first sync (nothing stored in its window) on PostgreSQL: each page is reconciled and
 * serialised as it arrives, and committed into bank_transaction in chunks while the next pages are
 * fetched, unpublished (TransactionStaging); SyncService.write then publishes them in its one
 * short transaction with the balances, events and account row. Same rows, ids and versions as
 * reconcile + applyChanges would write; all of the sync appears, or none. No transaction is held
 * open while the bank answers (the event log waits for every older running transaction).
 */
class FirstSyncWrite {
  #events: NewEvent[] = [];

  private constructor(
    private readonly account: { tenantId: string; accountId: string },
    readonly copy: TransactionStaging,
    private readonly reconciler: FirstSyncReconciler,
  ) {}

  /** Null when the window already stores rows: those need the whole reconciliation. */
  static async open(
    client: pg.PoolClient,
    account: Account,
    institution: InstitutionDescriptor,
    dateFrom: string,
    today: string,
  ): Promise<FirstSyncWrite | null> {
    const stored = await loadWindow(client, account.id, dateFrom);
    const { rows } = await client.query<{ version: string }>('select version::text as version from account where id = $1', [account.id]);
    if (stored.length > 0 || !rows[0]) return null;
    const copy = await TransactionStaging.open(client, { tenantId: account.tenant.id, accountId: account.id, version: rows[0].version });
    return new FirstSyncWrite(
      { tenantId: account.tenant.id, accountId: account.id },
      copy,
      new FirstSyncReconciler(institution.quirks.transactionIdsUnstable !== true, today),
    );
  }

  /**
   * Reconciles and stages a page of listing `listing` (see sideBySide; 0 when there is one); waits
   * while several chunks wait for the database (TransactionStaging.room), the pages read ahead too.
   */
  async add(page: CanonicalTransaction[], listing = 0): Promise<void> {
    this.copy.add(this.reconciler.page(page, listing));
    await this.copy.room();
  }

  /**
   * Every page is read: writes the last rows and waits for every chunk, building the sync's
   * TRANSACTIONS_ADDED events meanwhile (nothing else uses the connection until then).
   */
  async stored(): Promise<void> {
    this.copy.end();
    this.#events = changeEvents(this.account.tenantId, this.account.accountId, this.applied);
    await this.copy.stored();
  }

  /** Its TRANSACTIONS_ADDED events (after `stored`). */
  get events(): NewEvent[] {
    return this.#events;
  }

  /** What the write adds: every row, and the account version that publishes them. */
  get applied(): AppliedChanges {
    return { version: this.copy.version, added: this.copy.added, modified: [], removed: [] };
  }

  get stats(): { received: number; duplicatesDropped: number } {
    return this.reconciler.stats;
  }
}
