import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { DomainError, ErrorCode } from '../../kernel/errors';
import { DECIMAL_PATTERN } from '../../kernel/money';
import { compareDecimal } from '../transactions';
import { afterPosition, type KeysetPosition } from '../../kernel/keyset';
import {
  feedAfter,
  rawPayloads,
  transactionPage,
  transactionsByIds,
  type FeedEntry,
  type TransactionFilter,
  type TransactionPosition,
  type TransactionRecord,
} from '../transactions';
import { toGlobalId } from '../../kernel/ids';
import type { CanonicalAccount } from '../../banking/model';
import type { Consent } from '../consents/consent.entity';
import type { GrantedAccounts } from '../consents';
import { addEvents, EventType } from '../events';
import { Account } from './account.entity';

/** How long an event's transactions, once read, serve the other live subscriptions executing that event. */
const SHARED_EVENT_READ_MS = 1_000;
/** Bound on the events whose reads are shared at once. */
const MAX_SHARED_EVENT_READS = 1_000;

/** A balance as stored after the last sync. */
export interface BalanceRecord {
  kind: string;
  bankType: string;
  amount: string;
  currency: string;
  referenceDate: string | null;
  lastChangeDateTime: Date | null;
  creditLimitIncluded: boolean | null;
}

/** An account as the API reads it. */
export interface AccountRecord {
  id: string;
  consentId: string;
  kind: string;
  iban: string | null;
  maskedPan: string | null;
  currency: string;
  name: string | null;
  ownerName: string | null;
  product: string | null;
  syncStatus: string;
  syncError: string | null;
  lastSyncedAt: Date | null;
  nextSyncAt: Date | null;
}

/** What `transactionsSync` answers: changes after a cursor, and the cursor after them. */
export interface ChangePage {
  added: TransactionRecord[];
  modified: TransactionRecord[];
  removed: string[];
  nextCursor: string;
  hasMore: boolean;
}

export const MAX_SYNC_COUNT = 500;
export const DEFAULT_SYNC_COUNT = 100;
export const MAX_TRANSACTION_PAGE = 500;

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const badInput = (message: string, argument: string) => new DomainError(ErrorCode.BAD_USER_INPUT, message, { argument });

/**
 * Accounts and their data as the API reads them, always within the caller's tenant. Pages and the
 * change feed go straight to SQL (see transactions.store): no entity is hydrated per row.
 */
export class AccountsService implements GrantedAccounts {
  /** Reads of events' transactions in flight or just done, by tenant and event id (see transactionsOfEvent). */
  private readonly eventReads = new Map<string, Promise<TransactionRecord[]>>();

  constructor(
    private readonly sql: pg.Pool,
    /** Hot reads use named prepared statements (PostgreSQL; not PGlite, whose connections share one session). */
    private readonly prepared = false,
  ) {}

  async list(em: EntityManager, caller: Caller, limit: number, after?: KeysetPosition): Promise<Account[]> {
    return em.find(Account, { tenant: caller.tenantId, ...afterPosition(after) }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit, populate: ['consent'] });
  }

  /** The accounts a consent currently grants, oldest first. */
  async ofConsent(em: EntityManager, caller: Caller, consentId: string): Promise<Account[]> {
    return em.find(Account, { tenant: caller.tenantId, consent: consentId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  /**
   * Records the accounts the bank listed at a consent's authorisation (ConsentsService calls this, in
   * the unit of work that activates the consent). Accounts belong to the end user at the institution, not
   * to one consent: a renewal or a new consent takes over the same rows (matched by the bank's id,
   * then IBAN, then masked PAN), so account and transaction ids never change.
   */
  async recordGranted(em: EntityManager, consent: Consent, accounts: CanonicalAccount[]): Promise<void> {
    const existing = await em.find(
      Account,
      { tenant: consent.tenant, endUser: consent.endUser, institutionId: consent.institutionId! },
      { orderBy: { createdAt: 'asc' } },
    );
    const taken = new Set<Account>();
    const free = (pred: (e: Account) => boolean) => existing.find((e) => !taken.has(e) && pred(e));
    for (const a of accounts) {
      const match =
        free((e) => e.consent.id === consent.id && e.bankAccountId === a.bankAccountId) ??
        (a.iban ? free((e) => e.iban === a.iban) : undefined) ??
        (a.maskedPan ? free((e) => e.maskedPan === a.maskedPan) : undefined) ??
        free((e) => e.bankAccountId === a.bankAccountId && !e.iban && !e.maskedPan);
      const data = {
        consent,
        bankAccountId: a.bankAccountId,
        kind: a.kind,
        iban: a.iban,
        maskedPan: a.maskedPan,
        currency: a.currency,
        name: a.name,
        ownerName: a.ownerName,
        product: a.product,
      };
      if (match) {
        taken.add(match);
        Object.assign(match, data);
      } else {
        const created = em.create(Account, { tenant: consent.tenant, endUser: consent.endUser, institutionId: consent.institutionId!, ...data });
        taken.add(created);
        addEvents(em, [
          {
            tenantId: consent.tenant.id,
            type: EventType.ACCOUNT_DISCOVERED,
            resourceType: 'Account',
            resourceId: created.id,
            payload: {
              accountId: toGlobalId('Account', created.id),
              consentId: toGlobalId('Consent', consent.id),
              kind: created.kind,
              currency: created.currency,
            },
          },
        ]);
      }
    }
  }

  /** One account as the API shows it, read with plain SQL (no entity): the hot path of every page. */
  async record(caller: Caller, id: string): Promise<AccountRecord | null> {
    const { rows } = await this.sql.query<AccountRecord>({
      ...(this.prepared ? { name: 'account-record' } : {}),
      text: `select id, consent_id as "consentId", kind, iban, masked_pan as "maskedPan", currency, name, owner_name as "ownerName", product,
         sync_status as "syncStatus", sync_error as "syncError", last_synced_at as "lastSyncedAt", next_sync_at as "nextSyncAt"
       from account where id = $1 and tenant_id = $2`,
      values: [id, caller.tenantId],
    });
    return rows[0] ?? null;
  }

  async get(em: EntityManager, caller: Caller, id: string): Promise<Account | null> {
    return em.findOne(Account, { id, tenant: caller.tenantId }, { populate: ['consent'] });
  }

  async balances(caller: Caller, accountId: string): Promise<BalanceRecord[]> {
    const { rows } = await this.sql.query<BalanceRecord>(
      `select kind, bank_type as "bankType", amount::text as amount, currency, reference_date as "referenceDate",
         last_change_date_time as "lastChangeDateTime", credit_limit_included as "creditLimitIncluded"
       from balance where tenant_id = $1 and account_id = $2 order by kind, bank_type`,
      [caller.tenantId, accountId],
    );
    return rows;
  }

  /** A page of transactions, newest first; `limit + 1` rows (the extra one says whether more follow). */
  async transactions(
    caller: Caller,
    accountId: string,
    limit: number,
    after: string | null | undefined,
    filter: TransactionFilter | null | undefined,
  ): Promise<(TransactionRecord & { createdVersion: string })[]> {
    const f = checkFilter(filter ?? {});
    const position = after ? decodeTransactionCursor(accountId, after) : null;
    // Not prepared: a generic plan for the page (any account, any limit) is worse than planning each one.
    return transactionPage(this.sql, caller.tenantId, accountId, limit, position, f);
  }

  /**
   * A page of an account's transactions (no filter) read before the account itself, for a request
   * that asks the account for nothing but this page: while the account has transactions, they prove
   * it exists in the caller's tenant (they reference it, and are read under the same tenant), so the
   * request costs one query instead of two. `account` is null when the account does not exist, and
   * read (as {@link record} does) only when the page is empty. Null when `after` is no cursor of this
   * account: the caller then takes the ordinary path, which reports it.
   */
  async transactionsFirst(
    caller: Caller,
    accountId: string,
    limit: number,
    after: string | null,
  ): Promise<{ rows: (TransactionRecord & { createdVersion: string })[]; account: AccountRecord | null | 'has-rows' } | null> {
    const position = after === null ? null : parseTransactionCursor(accountId, after);
    if (after !== null && !position) return null;
    const rows = await transactionPage(this.sql, caller.tenantId, accountId, limit, position, {});
    return { rows, account: rows.length > 0 ? 'has-rows' : await this.record(caller, accountId) };
  }

  async transactionsByIds(caller: Caller, ids: string[]): Promise<TransactionRecord[]> {
    return transactionsByIds(this.sql, caller.tenantId, ids);
  }

  /**
   * The transactions a TRANSACTIONS_ADDED event names, read once for every live subscription of
   * the tenant that executes this event (each distinct operation is one group of the live hub, and
   * all of them run the event within moments): the read is shared while it runs and for a second
   * after, then forgotten; a failed read is not kept.
   */
  transactionsOfEvent(caller: Caller, eventId: string, ids: string[]): Promise<TransactionRecord[]> {
    const key = `${caller.tenantId}/${eventId}`;
    const shared = this.eventReads.get(key);
    if (shared) return shared;
    const read = transactionsByIds(this.sql, caller.tenantId, ids);
    if (this.eventReads.size >= MAX_SHARED_EVENT_READS) return read; // a burst beyond the bound reads on its own
    this.eventReads.set(key, read);
    read.then(
      () => setTimeout(() => this.eventReads.delete(key), SHARED_EVENT_READ_MS).unref(),
      () => this.eventReads.delete(key),
    );
    return read;
  }

  async rawPayloads(caller: Caller, ids: string[]): Promise<Map<string, unknown>> {
    return rawPayloads(this.sql, caller.tenantId, ids);
  }

  /**
   * The change feed of one account: every insert, change and removal after `cursor`, each
   * transaction once in its latest state. A cursor names a version of this account, so it stays
   * valid while syncs land and never skips or repeats a change.
   */
  async changes(
    em: EntityManager,
    caller: Caller,
    accountId: string | null,
    cursor: string | null | undefined,
    count: number | null | undefined,
  ): Promise<ChangePage> {
    const limit = count ?? DEFAULT_SYNC_COUNT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SYNC_COUNT) throw badInput(`Argument "count" must be between 1 and ${MAX_SYNC_COUNT}.`, 'count');
    const account = accountId ? await em.findOne(Account, { id: accountId, tenant: caller.tenantId }) : null;
    if (!account) throw new DomainError(ErrorCode.NOT_FOUND, 'No account with this id.', { argument: 'accountId' });
    const from = cursor ? decodeFeedCursor(account.id, cursor) : '0';
    const entries = await feedAfter(this.sql, caller.tenantId, account.id, from, limit);
    const page = entries.slice(0, limit);
    const out: ChangePage = {
      added: [],
      modified: [],
      removed: [],
      nextCursor: encodeFeedCursor(account.id, page.at(-1)?.version ?? from),
      hasMore: entries.length > limit,
    };
    for (const e of page) {
      if (e.kind === 'ADDED') out.added.push((e as FeedEntry).record);
      else if (e.kind === 'MODIFIED') out.modified.push((e as FeedEntry).record);
      else if (e.kind === 'REMOVED') out.removed.push((e as FeedEntry).record.id);
    }
    return out;
  }
}

function checkFilter(f: TransactionFilter): TransactionFilter {
  for (const k of ['from', 'to'] as const) {
    const v = f[k];
    if (v != null && (!DATE.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)))) throw badInput(`filter.${k} must be a date (YYYY-MM-DD).`, `filter.${k}`);
  }
  if (f.from && f.to && f.from > f.to) throw badInput('filter.from is after filter.to.', 'filter.from');
  for (const k of ['minAmount', 'maxAmount'] as const) {
    const v = f[k];
    if (v != null && !DECIMAL_PATTERN.test(v)) throw badInput(`filter.${k} must be a decimal string such as "-12.30".`, `filter.${k}`);
  }
  if (f.minAmount != null && f.maxAmount != null && compareDecimal(f.minAmount, f.maxAmount) > 0)
    throw badInput('filter.minAmount is above filter.maxAmount.', 'filter.minAmount');
  if (f.search != null && (f.search.trim().length === 0 || f.search.length > 100)) throw badInput('filter.search must be 1–100 characters.', 'filter.search');
  return { ...f, search: f.search?.trim() ?? null };
}

/** Cursor of a transaction in an account's page order (pending first, date, per-account sequence, id). */
export function encodeTransactionCursor(accountId: string, position: TransactionPosition): string {
  return base64UrlOfUtf8(`t2|${accountId}|${position.pending ? 'P' : 'B'}|${position.sortDate}|${position.createdVersion}|${position.id}`);
}

/** Scratch space of {@link base64UrlOfUtf8}: one buffer for the process (encoding is synchronous). */
const cursorScratch = Buffer.allocUnsafe(1024);

/**
 * `Buffer.from(text, 'utf8').toString('base64url')` without a Buffer per call: a page encodes one
 * cursor per row, and those buffers were a tenth of what a page request allocated. Text longer
 * than the scratch space can hold (3 bytes per UTF-16 unit at most) takes the plain way.
 */
export function base64UrlOfUtf8(text: string): string {
  if (text.length * 3 > cursorScratch.length) return Buffer.from(text, 'utf8').toString('base64url');
  const bytes = cursorScratch.write(text, 0, 'utf8');
  return cursorScratch.toString('base64url', 0, bytes);
}

function decodeTransactionCursor(accountId: string, cursor: string): TransactionPosition {
  const position = parseTransactionCursor(accountId, cursor);
  if (!position) throw badInput('Argument "after" is not a valid cursor for this account’s transactions.', 'after');
  return position;
}

/** The position a page cursor of `accountId` names; null when `cursor` is not one. */
function parseTransactionCursor(accountId: string, cursor: string): TransactionPosition | null {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const [tag, account, pending, sortDate, createdVersion, id] = parts;
  if (
    parts.length !== 6 ||
    tag !== 't2' ||
    account !== accountId ||
    (pending !== 'P' && pending !== 'B') ||
    !DATE.test(sortDate!) ||
    !/^\d{1,18}$/.test(createdVersion!) ||
    !UUID.test(id!)
  ) {
    return null;
  }
  return { pending: pending === 'P', sortDate: sortDate!, createdVersion: createdVersion!, id: id! };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function encodeFeedCursor(accountId: string, version: string): string {
  return Buffer.from(`f1|${accountId}|${version}`, 'utf8').toString('base64url');
}

function decodeFeedCursor(accountId: string, cursor: string): string {
  const parts = decodeParts(cursor, 'cursor');
  if (parts.length !== 3 || parts[0] !== 'f1' || !/^\d{1,18}$/.test(parts[2]!)) throw badInput('Argument "cursor" is not a transactionsSync cursor.', 'cursor');
  if (parts[1] !== accountId) throw badInput('Argument "cursor" belongs to another account.', 'cursor');
  return parts[2]!;
}

function decodeParts(cursor: string, argument: string): string[] {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw badInput(`Argument "${argument}" is not a valid cursor.`, argument);
  return Buffer.from(cursor, 'base64url').toString('utf8').split('|');
}
