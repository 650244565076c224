import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { DomainError, ErrorCode } from '../../kernel/errors';
import type { KeysetPosition } from '../../kernel/keyset';
import { toGlobalId } from '../../kernel/ids';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import { inTransaction } from '../../platform/db';
import { asSystem, withTenant } from '../../platform/tenant-scope';
import type { AccountRecord, AccountsService, BalanceRecord } from '../accounts';
import { AuditAction, type AuditEntry, type AuditService } from '../audit';
import { appendEvents, EventType, type NewEvent } from '../events';
import type { TransactionFilter, TransactionRecord } from '../transactions';
import { publishedUpTo } from '../transactions';
import { TENANT_HANDLE } from '../tenancy';

/** What a grant lets the grantee read. Initiation (payments, syncs) is never grantable. */
export enum AccessGrantScope {
  ACCOUNTS_READ = 'ACCOUNTS_READ',
  BALANCES_READ = 'BALANCES_READ',
  TRANSACTIONS_READ = 'TRANSACTIONS_READ',
  PAYMENTS_READ = 'PAYMENTS_READ',
}

export type AccessGrantStatus = 'PENDING' | 'ACTIVE' | 'DECLINED' | 'REVOKED' | 'EXPIRED';
export type AccessGrantSide = 'OWNER' | 'GRANTEE';

/** Accounts one grant may name. */
export const MAX_GRANT_ACCOUNTS = 50;
/** The longest a grant may run. */
export const MAX_GRANT_DAYS = 730;

/** A grant as either side reads it. */
export interface GrantRecord {
  id: string;
  ownerTenantId: string;
  granteeTenantId: string;
  ownerHandle: string | null;
  ownerName: string;
  granteeHandle: string | null;
  granteeName: string;
  endUserId: string;
  scopes: AccessGrantScope[];
  /** As stored; see {@link statusOf} for what callers are shown. */
  storedStatus: 'PENDING' | 'ACTIVE' | 'DECLINED' | 'REVOKED';
  expired: boolean;
  endsAt: Date;
  createdAt: Date;
  acceptedAt: Date | null;
  closedAt: Date | null;
  closedBy: AccessGrantSide | null;
  granteeResourceId: string;
  accountIds: string[];
}

/** One granted account, as the grantee reaches it: `sharedId` is its grant-scoped id. */
export interface Share {
  sharedId: string;
  grantId: string;
  accountId: string;
  ownerTenantId: string;
  /** The end user whose accounts the grant shares. */
  endUserId: string;
  scopes: AccessGrantScope[];
  usable: boolean;
}

/**
 * One of the owner's payments made from a shared account, as the grantee reads it: `id` is its
 * grant-scoped id ({@link sharedPaymentId}); `sharedAccountId` the account it was made from.
 */
export interface SharedPaymentRecord {
  id: string;
  sharedAccountId: string;
  status: string;
  rawStatus: string | null;
  reasonCode: string | null;
  statusReason: string | null;
  terminal: boolean;
  amount: string;
  currency: string;
  creditorName: string;
  creditorIban: string;
  creditorBic: string | null;
  debtorIban: string;
  scheme: string;
  remittanceInformation: string | null;
  endToEndId: string | null;
  requestedExecutionDate: string | null;
  createdAt: Date;
  updatedAt: Date;
}

type Result<T> = { ok: true; value: T } | { ok: false; userErrors: Problem[] };

export const statusOf = (g: Pick<GrantRecord, 'storedStatus' | 'expired'>): AccessGrantStatus =>
  (g.storedStatus === 'PENDING' || g.storedStatus === 'ACTIVE') && g.expired ? 'EXPIRED' : g.storedStatus;

export const sideOf = (caller: Caller, g: Pick<GrantRecord, 'ownerTenantId'>): AccessGrantSide => (g.ownerTenantId === caller.tenantId ? 'OWNER' : 'GRANTEE');

/**
 * The grant-scoped id of one of the owner's transactions as a grantee sees it: derived from the
 * shared account's id, so it names nothing outside the grant and reveals no owner id. The event
 * copy trigger (Migration20261207210001AccessGrants) derives the same value in SQL.
 */
export function sharedTransactionId(sharedId: string, transactionId: string): string {
  return grantScoped(sharedId, toGlobalId('Transaction', transactionId));
}

/**
 * The grant-scoped id of one of the owner's payments made from a shared account, derived the same
 * way; the payment event copy trigger (Migration20261208010001SharedPayments) derives it in SQL.
 */
export function sharedPaymentId(sharedId: string, paymentId: string): string {
  return grantScoped(sharedId, toGlobalId('Payment', paymentId));
}

function grantScoped(sharedId: string, ownerGlobalId: string): string {
  const h = createHash('md5').update(`${sharedId}:${ownerGlobalId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const GRANT_COLUMNS = `g.id, g.owner_tenant_id as "ownerTenantId", g.grantee_tenant_id as "granteeTenantId",
  o.handle as "ownerHandle", o.name as "ownerName", t.handle as "granteeHandle", t.name as "granteeName",
  g.end_user_id as "endUserId", g.scopes, g.status as "storedStatus", (g.ends_at <= now()) as expired, g.ends_at as "endsAt",
  g.created_at as "createdAt", g.accepted_at as "acceptedAt", g.closed_at as "closedAt", g.closed_by as "closedBy",
  g.grantee_resource_id as "granteeResourceId",
  array(select ga.account_id from access_grant_account ga where ga.grant_id = g.id order by ga.account_id) as "accountIds"`;
const GRANT_FROM = `access_grant g join tenant o on o.id = g.owner_tenant_id join tenant t on t.id = g.grantee_tenant_id`;

const actor = (caller: Caller) => `apiKey:${caller.apiKeyId}`;
/** Who acted, as the other side's journal names it: the calling tenant (shown as its opaque global id), never its key. */
const otherSide = (caller: Caller) => `tenant:${caller.tenantId}`;
const SCOPES = new Set<string>(Object.values(AccessGrantScope));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Delegated access: an owner tenant lets another tenant (its end user's accountant, say) read some
 * accounts of one end user, with chosen scopes, until an end date. Every read re-checks the grant
 * in the database (revocation is effective for the very next request), reads stored data only
 * (a grantee never causes a bank call), and writes a line to the OWNER's audit journal.
 *
 * Reads of the owner's data go through the accounts service with the owner's tenant as the
 * caller ({@link ownerScope}) and in the owner's database scope (row-level security), after the
 * grant was checked in the grantee's.
 */
export class GrantsService {
  constructor(
    private readonly deps: {
      sql: pg.Pool;
      audit: AuditService;
      accounts: AccountsService;
      /** Wakes live subscribers after a commit that wrote events. */
      notifyEvents: () => void;
    },
  ) {}

  /** Invites the tenant with `granteeHandle` to read `accountIds` of `endUserId` (by the owner). */
  async invite(
    caller: Caller,
    input: { endUserId: string | null; granteeHandle: string; scopes: string[]; accountIds: (string | null)[]; endsAt: Date },
  ): Promise<Result<GrantRecord>> {
    const errors: Problem[] = [];
    if (input.scopes.length > SCOPES.size)
      return this.refused(caller, 'accessGrantInvite', [problem(['input', 'scopes'], ProblemCode.OUT_OF_RANGE, `at most ${SCOPES.size} scopes`)]);
    const scopes = [...new Set(input.scopes)];
    scopes.forEach((s, i) => {
      if (!SCOPES.has(s))
        errors.push(
          problem(
            ['input', 'scopes', String(i)],
            ProblemCode.UNKNOWN_SCOPE,
            `no scope "${String(s).slice(0, 40)}": grantable scopes are ${[...SCOPES].join(', ')} (initiation never is)`,
          ),
        );
    });
    if (scopes.length === 0) errors.push(problem(['input', 'scopes'], ProblemCode.BLANK, 'name at least one scope'));
    else if (!scopes.includes(AccessGrantScope.ACCOUNTS_READ))
      errors.push(problem(['input', 'scopes'], ProblemCode.INVALID, 'ACCOUNTS_READ is required: every other scope reads through the account'));
    if (input.accountIds.length === 0) errors.push(problem(['input', 'accountIds'], ProblemCode.BLANK, 'name at least one account'));
    if (input.accountIds.length > MAX_GRANT_ACCOUNTS)
      return this.refused(caller, 'accessGrantInvite', [
        problem(['input', 'accountIds'], ProblemCode.OUT_OF_RANGE, `at most ${MAX_GRANT_ACCOUNTS} accounts per grant`),
      ]);
    const now = Date.now();
    if (Number.isNaN(input.endsAt.getTime()) || input.endsAt.getTime() <= now)
      errors.push(problem(['input', 'endsAt'], ProblemCode.OUT_OF_RANGE, 'must be in the future'));
    else if (input.endsAt.getTime() > now + MAX_GRANT_DAYS * 86_400_000)
      errors.push(problem(['input', 'endsAt'], ProblemCode.OUT_OF_RANGE, `must be within ${MAX_GRANT_DAYS} days`));

    const grantee = await this.tenantByHandle(caller, input.granteeHandle);
    if (!grantee) errors.push(problem(['input', 'granteeHandle'], ProblemCode.UNKNOWN_TENANT, 'no tenant of this gateway has this handle'));
    else if (grantee === caller.tenantId) errors.push(problem(['input', 'granteeHandle'], ProblemCode.SELF_GRANT, 'a tenant cannot grant access to itself'));

    const endUser = input.endUserId ? await this.endUserOf(caller, input.endUserId) : null;
    if (!endUser) errors.push(problem(['input', 'endUserId'], ProblemCode.NOT_FOUND, 'no end user with this id'));
    const accountIds = [...new Set(input.accountIds.filter((a): a is string => !!a))];
    const owners = await this.accountEndUsers(caller, accountIds);
    input.accountIds.forEach((a, i) => {
      const of = a ? owners.get(a) : undefined;
      if (!of) errors.push(problem(['input', 'accountIds', String(i)], ProblemCode.NOT_FOUND, 'no account with this id'));
      else if (endUser && of !== endUser)
        errors.push(problem(['input', 'accountIds', String(i)], ProblemCode.END_USER_MISMATCH, 'the account belongs to another end user'));
    });
    if (errors.length) return this.refused(caller, 'accessGrantInvite', errors);

    const id = randomUUID();
    await inTransaction(this.deps.sql, async (client) => {
      const { rows } = await client.query<{ grantee_resource_id: string }>(
        `insert into access_grant (id, owner_tenant_id, grantee_tenant_id, end_user_id, scopes, ends_at) values ($1, $2, $3, $4, $5, $6) returning grantee_resource_id`,
        [id, caller.tenantId, grantee, endUser, scopes, input.endsAt],
      );
      await client.query(`insert into access_grant_account (grant_id, account_id) select $1, unnest($2::uuid[])`, [id, accountIds]);
      await this.journal(client, caller, [caller.tenantId, grantee!], AuditAction.ACCESS_GRANT_INVITED, id, {
        scopes: scopes.join(','),
        accounts: accountIds.length,
        endsAt: input.endsAt.toISOString(),
      });
      await appendEvents(client, [grantEvent(grantee!, EventType.ACCESS_GRANT_INVITED, rows[0]!.grantee_resource_id, id)]);
    });
    this.deps.notifyEvents();
    return { ok: true, value: (await this.get(caller, id))! };
  }

  /** The grantee accepts a pending grant: one atomic claim, so a second accept (or a race) changes nothing. */
  async accept(caller: Caller, id: string | null): Promise<Result<GrantRecord>> {
    return this.transition(
      caller,
      id,
      'accessGrantAccept',
      `status = 'ACTIVE', accepted_at = now()`,
      `grantee_tenant_id = $2 and status = 'PENDING' and ends_at > now()`,
      AuditAction.ACCESS_GRANT_ACCEPTED,
      (g) => [grantEvent(g.ownerTenantId, EventType.ACCESS_GRANT_ACCEPTED, g.id, g.id)],
    );
  }

  /** The grantee declines a pending grant. */
  async decline(caller: Caller, id: string | null): Promise<Result<GrantRecord>> {
    return this.transition(
      caller,
      id,
      'accessGrantDecline',
      `status = 'DECLINED', closed_at = now(), closed_by = 'GRANTEE'`,
      `grantee_tenant_id = $2 and status = 'PENDING'`,
      AuditAction.ACCESS_GRANT_DECLINED,
      (g) => [grantEvent(g.ownerTenantId, EventType.ACCESS_GRANT_DECLINED, g.id, g.id)],
    );
  }

  /** Either side ends a pending or active grant, at once: the next read through it is refused and no event is copied after it. */
  async revoke(caller: Caller, id: string | null): Promise<Result<GrantRecord>> {
    return this.transition(
      caller,
      id,
      'accessGrantRevoke',
      `status = 'REVOKED', closed_at = now(), closed_by = case when owner_tenant_id = $2 then 'OWNER' else 'GRANTEE' end`,
      `(owner_tenant_id = $2 or grantee_tenant_id = $2) and status in ('PENDING', 'ACTIVE')`,
      AuditAction.ACCESS_GRANT_REVOKED,
      (g) => [
        grantEvent(g.ownerTenantId, EventType.ACCESS_GRANT_REVOKED, g.id, g.id),
        grantEvent(g.granteeTenantId, EventType.ACCESS_GRANT_REVOKED, g.granteeResourceId, g.id),
      ],
    );
  }

  /** A grant the caller is a side of; null otherwise. */
  async get(caller: Caller, id: string, db: Pick<pg.PoolClient, 'query'> = this.deps.sql): Promise<GrantRecord | null> {
    const { rows } = await db.query<GrantRecord>(
      `select ${GRANT_COLUMNS} from ${GRANT_FROM} where g.id = $1 and (g.owner_tenant_id = $2 or g.grantee_tenant_id = $2)`,
      [id, caller.tenantId],
    );
    return rows[0] ?? null;
  }

  /** Grants the caller gave or received, oldest first; `limit + 1` rows. */
  async list(caller: Caller, limit: number, after?: KeysetPosition): Promise<GrantRecord[]> {
    if (after && !UUID.test(after.id))
      throw new DomainError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
    const { rows } = await this.deps.sql.query<GrantRecord>(
      `select ${GRANT_COLUMNS} from ${GRANT_FROM}
       where (g.owner_tenant_id = $1 or g.grantee_tenant_id = $1) and ($2::timestamptz is null or (g.created_at, g.id) > ($2::timestamptz, $3::uuid))
       order by g.created_at, g.id limit $4`,
      [caller.tenantId, after?.createdAt ?? null, after?.id ?? null, limit],
    );
    return rows;
  }

  /** The granted accounts of a grant, for its grantee (empty for the owner, or when the grant is not usable). */
  async shares(caller: Caller, grantId: string): Promise<Share[]> {
    const { rows } = await this.deps.sql.query<Share>(`${SHARE_SELECT} where g.id = $1 and g.grantee_tenant_id = $2 order by ga.account_id`, [
      grantId,
      caller.tenantId,
    ]);
    return rows.filter((s) => s.usable);
  }

  /** One granted account by its grant-scoped id; null when the caller is not its grantee. */
  async share(caller: Caller, sharedId: string): Promise<Share | null> {
    const { rows } = await this.deps.sql.query<Share>(`${SHARE_SELECT} where ga.id = $1 and g.grantee_tenant_id = $2`, [sharedId, caller.tenantId]);
    return rows[0] ?? null;
  }

  /** The account's details (ACCOUNTS_READ), journalled in the owner's audit. */
  async account(caller: Caller, sharedId: string): Promise<AccountRecord> {
    const share = await this.usable(caller, sharedId, AccessGrantScope.ACCOUNTS_READ);
    const record = await withTenant(share.ownerTenantId, () => this.deps.accounts.record(ownerScope(share, caller), share.accountId));
    if (!record) throw new DomainError(ErrorCode.NOT_FOUND, 'The shared account no longer exists.');
    await this.readJournal(caller, share, 'account', {});
    return record;
  }

  /** Balances as stored by the owner's last sync (BALANCES_READ). */
  async balances(caller: Caller, sharedId: string): Promise<BalanceRecord[]> {
    const share = await this.usable(caller, sharedId, AccessGrantScope.BALANCES_READ);
    const rows = await withTenant(share.ownerTenantId, () => this.deps.accounts.balances(ownerScope(share, caller), share.accountId));
    await this.readJournal(caller, share, 'balances', { count: rows.length });
    return rows;
  }

  /** A page of stored transactions (TRANSACTIONS_READ); the cursor is the owner's page cursor wrapped in the shared account's. */
  async transactions(
    caller: Caller,
    sharedId: string,
    limit: number,
    after: string | null | undefined,
    filter: TransactionFilter | null | undefined,
  ): Promise<{ share: Share; rows: (TransactionRecord & { createdVersion: string })[] }> {
    const share = await this.usable(caller, sharedId, AccessGrantScope.TRANSACTIONS_READ);
    const inner = after ? unwrapCursor(sharedId, after) : null;
    const rows = await withTenant(share.ownerTenantId, () => this.deps.accounts.transactions(ownerScope(share, caller), share.accountId, limit, inner, filter));
    await this.readJournal(caller, share, 'transactions', { count: Math.min(rows.length, limit) });
    return { share, rows };
  }

  /**
   * A page of the payments made from a shared account (PAYMENTS_READ): the owner's payments of the
   * grant's end user whose debtor IBAN is the account's, oldest first; `limit + 1` rows. Paged by
   * (createdAt, grant-scoped id), so no cursor carries an owner's id.
   */
  async payments(caller: Caller, sharedId: string, limit: number, after?: KeysetPosition): Promise<SharedPaymentRecord[]> {
    if (after && !UUID.test(after.id))
      throw new DomainError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
    const share = await this.usable(caller, sharedId, AccessGrantScope.PAYMENTS_READ);
    const rows = await withTenant(share.ownerTenantId, () =>
      this.sharedPayments(
        share,
        `and ($1::timestamptz is null or (p.created_at, x.shared_id) > ($1::timestamptz, $2::uuid)) order by p.created_at, x.shared_id limit $3`,
        [after?.createdAt ?? null, after?.id ?? null, limit],
      ),
    );
    await this.readJournal(caller, share, 'payments', { count: Math.min(rows.length, limit) });
    return rows;
  }

  /**
   * A shared payment by its grant-scoped id (node(id)), looked for in the caller's usable grants
   * with PAYMENTS_READ; null when none holds it (also once the grant ended). The id is a one-way
   * derivation, so this compares it against the payments of those accounts.
   */
  async payment(caller: Caller, id: string): Promise<SharedPaymentRecord | null> {
    if (!UUID.test(id)) return null;
    for (const share of await this.usableShares(caller, AccessGrantScope.PAYMENTS_READ)) {
      const [row] = await withTenant(share.ownerTenantId, () => this.sharedPayments(share, `and x.shared_id = $1::uuid`, [id]));
      if (row) {
        await this.readJournal(caller, share, 'payment', { count: 1 });
        return row;
      }
    }
    return null;
  }

  /**
   * A shared transaction by its grant-scoped id (node(id)), looked for in the caller's usable grants
   * with TRANSACTIONS_READ; null when none holds it. Like {@link payment}, it compares the one-way
   * id against the stored transactions of those accounts (one query per shared account).
   */
  async transaction(caller: Caller, id: string): Promise<{ share: Share; row: TransactionRecord } | null> {
    if (!UUID.test(id)) return null;
    for (const share of await this.usableShares(caller, AccessGrantScope.TRANSACTIONS_READ)) {
      const row = await withTenant(share.ownerTenantId, async () => {
        const { rows } = await this.deps.sql.query<{ id: string }>(
          `select id from bank_transaction where tenant_id = $1 and account_id = $2 and removed_at is null
             and created_version <= ${publishedUpTo('$2')}
             and md5($3::text || ':' || passerelle_gid('Transaction', id::text))::uuid = $4::uuid limit 1`,
          [share.ownerTenantId, share.accountId, share.sharedId, id],
        );
        return rows[0] ? (await this.deps.accounts.transactionsByIds(ownerScope(share, caller), [rows[0].id]))[0] : undefined;
      });
      if (!row) continue;
      await this.readJournal(caller, share, 'transaction', { count: 1 });
      return { share, row };
    }
    return null;
  }

  /** The shared account if the caller can read `scope` of it now; the coded errors of a refused read otherwise (journalled). */
  async readable(caller: Caller, sharedId: string, scope: AccessGrantScope): Promise<Share> {
    return this.usable(caller, sharedId, scope);
  }

  /**
   * Transactions of a shared account by their grant-scoped ids (those a TRANSACTIONS_ADDED copy
   * carries), in the order given, journalled in the owner's audit. At most 100 ids; one query
   * compares them with the account's stored transactions.
   */
  async transactionsBySharedIds(caller: Caller, sharedId: string, ids: string[]): Promise<TransactionRecord[]> {
    const share = await this.usable(caller, sharedId, AccessGrantScope.TRANSACTIONS_READ);
    const wanted = [...new Set(ids.filter((id) => UUID.test(id)))].slice(0, 100);
    if (wanted.length === 0) return [];
    const rows = await withTenant(share.ownerTenantId, async () => {
      const { rows: found } = await this.deps.sql.query<{ id: string }>(
        `select id from bank_transaction where tenant_id = $1 and account_id = $2
           and created_version <= ${publishedUpTo('$2')}
           and md5($3::text || ':' || passerelle_gid('Transaction', id::text))::uuid = any ($4::uuid[])`,
        [share.ownerTenantId, share.accountId, share.sharedId, wanted],
      );
      return this.deps.accounts.transactionsByIds(
        ownerScope(share, caller),
        found.map((r) => r.id),
      );
    });
    const bySharedId = new Map(rows.map((r) => [sharedTransactionId(sharedId, r.id), r]));
    const ordered = wanted.map((id) => bySharedId.get(id)).filter((r): r is TransactionRecord => !!r);
    await this.readJournal(caller, share, 'transactions', { count: ordered.length });
    return ordered;
  }

  /** The caller's granted accounts it can read `scope` of now. */
  private async usableShares(caller: Caller, scope: AccessGrantScope): Promise<Share[]> {
    const { rows } = await this.deps.sql.query<Share>(
      `${SHARE_SELECT} where g.grantee_tenant_id = $1 and g.status = 'ACTIVE' and g.ends_at > now() and $2 = any (g.scopes) order by ga.id`,
      [caller.tenantId, scope],
    );
    return rows;
  }

  /** The owner's payments made from one shared account, in the owner's scope; `tail` filters, orders and limits ($1… are its values). */
  private async sharedPayments(share: Share, tail: string, values: unknown[]): Promise<SharedPaymentRecord[]> {
    const n = values.length;
    const { rows } = await this.deps.sql.query<SharedPaymentRecord>(
      `select x.shared_id as id, $${n + 1}::uuid as "sharedAccountId", p.status, p.raw_status as "rawStatus", p.reason_code as "reasonCode",
         p.status_reason as "statusReason", p.terminal, p.amount::text as amount, p.currency, p.creditor_name as "creditorName",
         p.creditor_iban as "creditorIban", p.creditor_bic as "creditorBic", p.debtor_iban as "debtorIban", p.scheme,
         p.remittance_information as "remittanceInformation", p.end_to_end_id as "endToEndId",
         to_char(p.requested_execution_date, 'YYYY-MM-DD') as "requestedExecutionDate", p.created_at as "createdAt", p.updated_at as "updatedAt"
       from payment p
       join account a on a.id = $${n + 2} and a.tenant_id = p.tenant_id and upper(replace(a.iban, ' ', '')) = p.debtor_iban
       cross join lateral (select md5($${n + 1}::text || ':' || passerelle_gid('Payment', p.id::text))::uuid as shared_id) x
       where p.tenant_id = $${n + 3} and p.end_user_id = $${n + 4} ${tail}`,
      [...values, share.sharedId, share.accountId, share.ownerTenantId, share.endUserId],
    );
    return rows;
  }

  /** A grant that can be read through now, with the scope asked for; coded errors otherwise. */
  private async usable(caller: Caller, sharedId: string, scope: AccessGrantScope): Promise<Share> {
    const share = await this.share(caller, sharedId);
    if (!share) throw new DomainError(ErrorCode.NOT_FOUND, 'No shared account with this id.');
    if (!share.usable) {
      await this.refusedRead(caller, share, scope, ErrorCode.ACCESS_GRANT_INACTIVE);
      throw new DomainError(ErrorCode.ACCESS_GRANT_INACTIVE, 'The access grant behind this account is revoked, declined, expired or not accepted yet.');
    }
    if (!share.scopes.includes(scope)) {
      await this.refusedRead(caller, share, scope, ErrorCode.FORBIDDEN);
      throw new DomainError(ErrorCode.FORBIDDEN, `The access grant does not include ${scope}.`, { scope });
    }
    return share;
  }

  /** A read refused through a grant: a line in the reader's journal (the owner's data was not touched). */
  private async refusedRead(caller: Caller, share: Share, scope: AccessGrantScope, code: ErrorCode): Promise<void> {
    await this.deps.audit.append(this.deps.sql, {
      tenantId: caller.tenantId,
      action: AuditAction.ACCESS_GRANT_REFUSED,
      actor: actor(caller),
      resourceType: 'AccessGrant',
      resourceId: share.grantId,
      details: { read: scope, codes: code },
    });
  }

  private async readJournal(caller: Caller, share: Share, what: string, details: Record<string, string | number>): Promise<void> {
    await this.deps.audit.append(this.deps.sql, {
      tenantId: share.ownerTenantId,
      action: AuditAction.SHARED_DATA_READ,
      actor: otherSide(caller),
      resourceType: 'Account',
      resourceId: share.accountId,
      details: { accessGrantId: share.grantId, read: what, ...details },
    });
  }

  private async transition(
    caller: Caller,
    id: string | null,
    mutation: string,
    set: string,
    where: string,
    action: AuditAction,
    events: (g: GrantRecord) => NewEvent[],
  ): Promise<Result<GrantRecord>> {
    const claimed = id
      ? await inTransaction(this.deps.sql, async (client) => {
          const { rows } = await client.query<{ id: string }>(`update access_grant set ${set} where id = $1 and ${where} returning id`, [id, caller.tenantId]);
          if (!rows[0]) return false;
          const g = (await this.get(caller, id, client))!;
          await this.journal(client, caller, [g.ownerTenantId, g.granteeTenantId], action, id, { by: sideOf(caller, g) });
          await appendEvents(client, events(g));
          return true;
        })
      : false;
    const grant = id ? await this.get(caller, id) : null;
    if (!grant) return this.refused(caller, mutation, [problem(['id'], ProblemCode.NOT_FOUND, 'no access grant with this id')]);
    if (!claimed) {
      const status = statusOf(grant);
      const code = status === 'REVOKED' ? ProblemCode.ALREADY_REVOKED : ProblemCode.INVALID_STATE;
      return this.refused(caller, mutation, [
        problem(['id'], code, `the grant is ${status}${status === 'PENDING' ? ' and only its grantee may answer it' : ''}`),
      ]);
    }
    this.deps.notifyEvents();
    return { ok: true, value: grant };
  }

  /** Bad input changes nothing but leaves a line in the caller's journal (code and field, never the values). */
  private async refused(caller: Caller, mutation: string, errors: Problem[]): Promise<Result<never>> {
    await this.deps.audit.append(this.deps.sql, {
      tenantId: caller.tenantId,
      action: AuditAction.ACCESS_GRANT_REFUSED,
      actor: actor(caller),
      details: {
        mutation,
        codes: [...new Set(errors.map((e) => e.code))].join(','),
        fields: [...new Set(errors.map((e) => e.field.join('.')))].join(',').slice(0, 500),
      },
    });
    return { ok: false, userErrors: errors };
  }

  private async journal(
    client: Pick<pg.PoolClient, 'query'>,
    caller: Caller,
    tenants: string[],
    action: AuditAction,
    grantId: string,
    details: AuditEntry['details'],
  ): Promise<void> {
    for (const tenantId of tenants) {
      await this.deps.audit.append(client, {
        tenantId,
        action,
        actor: tenantId === caller.tenantId ? actor(caller) : otherSide(caller),
        resourceType: 'AccessGrant',
        resourceId: grantId,
        details,
      });
    }
  }

  private async tenantByHandle(caller: Caller, handle: string): Promise<string | null> {
    if (typeof handle !== 'string' || !TENANT_HANDLE.test(handle)) return null;
    // Another environment's tenant is as unknown as a missing one: sandbox data never meets live data.
    // The handle directory is the one read across tenants: it answers an id, nothing of the tenant's data.
    const { rows } = await asSystem('tenant handle lookup', () =>
      this.deps.sql.query<{ id: string }>(`select id from tenant where handle = $1 and environment = $2`, [handle, caller.environment]),
    );
    return rows[0]?.id ?? null;
  }

  private async endUserOf(caller: Caller, endUserId: string): Promise<string | null> {
    const { rows } = await this.deps.sql.query<{ id: string }>(`select id from end_user where id = $1 and tenant_id = $2`, [endUserId, caller.tenantId]);
    return rows[0]?.id ?? null;
  }

  private async accountEndUsers(caller: Caller, accountIds: string[]): Promise<Map<string, string>> {
    if (accountIds.length === 0) return new Map();
    const { rows } = await this.deps.sql.query<{ id: string; end_user_id: string }>(
      `select a.id, c.end_user_id from account a join consent c on c.id = a.consent_id where a.tenant_id = $1 and a.id = any($2::uuid[])`,
      [caller.tenantId, accountIds],
    );
    return new Map(rows.map((r) => [r.id, r.end_user_id]));
  }
}

const SHARE_SELECT = `select ga.id as "sharedId", g.id as "grantId", ga.account_id as "accountId", g.owner_tenant_id as "ownerTenantId", g.end_user_id as "endUserId", g.scopes,
  (g.status = 'ACTIVE' and g.ends_at > now()) as usable
  from access_grant_account ga join access_grant g on g.id = ga.grant_id`;

/**
 * The owner's tenant as the caller of a read through a grant that was just checked: the stores
 * scope every query by it (and the database's tenant guard, where set up, by the same tenant).
 */
function ownerScope(share: Share, grantee: Caller): Caller {
  return { tenantId: share.ownerTenantId, environment: grantee.environment, apiKeyId: grantee.apiKeyId };
}

function grantEvent(tenantId: string, type: EventType, resourceId: string, grantId: string): NewEvent {
  return { tenantId, type, resourceType: 'AccessGrant', resourceId, payload: { accessGrantId: toGlobalId('AccessGrant', grantId) } };
}

/** A grantee's transaction cursor: the owner's page cursor, bound to the shared account. */
export function wrapCursor(sharedId: string, inner: string): string {
  return Buffer.from(`s1|${sharedId}|${inner}`, 'utf8').toString('base64url');
}

function unwrapCursor(sharedId: string, cursor: string): string {
  const bad = () => new DomainError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this account’s transactions.', { argument: 'after' });
  if (cursor.length > 400 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const [tag, id, inner, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (tag !== 's1' || id !== sharedId || !inner || rest.length) throw bad();
  return inner;
}
