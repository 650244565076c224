import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { afterPosition, type KeysetPosition } from '../../kernel/keyset';
import type { BankCallRecord } from '../../banking/http';
import type { Logger } from '../../platform/logger';
import { asSystem } from '../../platform/tenant-scope';
import { AuditEvent } from './audit-event.entity';

/** What the journal records. */
export enum AuditAction {
  API_KEY_CREATED = 'API_KEY_CREATED',
  API_KEY_REVOKED = 'API_KEY_REVOKED',
  CONSENT_CREATED = 'CONSENT_CREATED',
  CONSENT_AUTHORISED = 'CONSENT_AUTHORISED',
  CONSENT_RENEWAL_STARTED = 'CONSENT_RENEWAL_STARTED',
  CONSENT_RENEWED = 'CONSENT_RENEWED',
  CONSENT_REJECTED = 'CONSENT_REJECTED',
  CONSENT_REVOKED = 'CONSENT_REVOKED',
  /** The bank refused the consent during a data call; it moved to REAUTH_REQUIRED or EXPIRED. */
  CONSENT_REAUTH_REQUIRED = 'CONSENT_REAUTH_REQUIRED',
  /** A consent's sealed bank tokens were opened for a bank call (purpose: sync, revoke). */
  BANK_TOKENS_USED = 'BANK_TOKENS_USED',
  /** A sync of an account's data ran (mode, outcome, counts). */
  ACCOUNT_SYNCED = 'ACCOUNT_SYNCED',
  BANK_CALL = 'BANK_CALL',
  /** A payment was sent to the bank (institution, scheme, amount). */
  PAYMENT_INITIATED = 'PAYMENT_INITIATED',
  /** The end user came back from the bank's authentication of a payment. */
  PAYMENT_AUTHORISED = 'PAYMENT_AUTHORISED',
  /** A payment's status changed (from, to, the bank's raw status and reason). */
  PAYMENT_STATUS_CHANGED = 'PAYMENT_STATUS_CHANGED',
  /** A payment was cancelled at the bank through the API. */
  PAYMENT_CANCELLED = 'PAYMENT_CANCELLED',
  WEBHOOK_ENDPOINT_CREATED = 'WEBHOOK_ENDPOINT_CREATED',
  WEBHOOK_ENDPOINT_DELETED = 'WEBHOOK_ENDPOINT_DELETED',
  /** A webhook endpoint got a new signing secret; the old one signs too until it expires. */
  WEBHOOK_SECRET_ROTATED = 'WEBHOOK_SECRET_ROTATED',
  /** A delivery was sent again on request. */
  WEBHOOK_DELIVERY_REPLAYED = 'WEBHOOK_DELIVERY_REPLAYED',
  /** Expected payments were created (one line per mutation, with the count). */
  EXPECTED_PAYMENTS_CREATED = 'EXPECTED_PAYMENTS_CREATED',
  EXPECTED_PAYMENT_CANCELLED = 'EXPECTED_PAYMENT_CANCELLED',
  EXPECTED_PAYMENT_CLOSED = 'EXPECTED_PAYMENT_CLOSED',
  /** The matcher confirmed a match on its own (actor `matcher`). */
  RECONCILIATION_AUTO_CONFIRMED = 'RECONCILIATION_AUTO_CONFIRMED',
  RECONCILIATION_CONFIRMED = 'RECONCILIATION_CONFIRMED',
  RECONCILIATION_REJECTED = 'RECONCILIATION_REJECTED',
  /** A match made by hand (reconciliationMatch). */
  RECONCILIATION_MATCHED = 'RECONCILIATION_MATCHED',
  RECONCILIATION_UNDONE = 'RECONCILIATION_UNDONE',
  /** Approvals: a member, a CA certificate, a certificate or passkey of a member, or a policy version was added. */
  APPROVAL_MEMBER_CREATED = 'APPROVAL_MEMBER_CREATED',
  APPROVAL_CA_CERTIFICATE_ADDED = 'APPROVAL_CA_CERTIFICATE_ADDED',
  APPROVER_CERTIFICATE_ADDED = 'APPROVER_CERTIFICATE_ADDED',
  APPROVER_CERTIFICATE_REVOKED = 'APPROVER_CERTIFICATE_REVOKED',
  APPROVAL_MEMBER_ROLES_CHANGED = 'APPROVAL_MEMBER_ROLES_CHANGED',
  APPROVER_PASSKEY_REGISTERED = 'APPROVER_PASSKEY_REGISTERED',
  APPROVER_PASSKEY_REVOKED = 'APPROVER_PASSKEY_REVOKED',
  APPROVAL_POLICY_SET = 'APPROVAL_POLICY_SET',
  /** A payment was held for approval under a policy version (or its amendment asked for approvals again). */
  PAYMENT_APPROVAL_REQUESTED = 'PAYMENT_APPROVAL_REQUESTED',
  PAYMENT_APPROVED = 'PAYMENT_APPROVED',
  PAYMENT_APPROVAL_REJECTED = 'PAYMENT_APPROVAL_REJECTED',
  /** An approval or rejection was refused (code says why); nothing was approved. */
  PAYMENT_APPROVAL_REFUSED = 'PAYMENT_APPROVAL_REFUSED',
  /** A payment awaiting approval was changed; earlier approvals no longer count. */
  PAYMENT_AMENDED = 'PAYMENT_AMENDED',
  /** The operator or the tenant set its public handle. */
  TENANT_HANDLE_SET = 'TENANT_HANDLE_SET',
  ACCESS_GRANT_INVITED = 'ACCESS_GRANT_INVITED',
  ACCESS_GRANT_ACCEPTED = 'ACCESS_GRANT_ACCEPTED',
  ACCESS_GRANT_DECLINED = 'ACCESS_GRANT_DECLINED',
  ACCESS_GRANT_REVOKED = 'ACCESS_GRANT_REVOKED',
  /** An access-grant mutation was refused (unknown tenant, unknown scope, …): the code and the field. */
  ACCESS_GRANT_REFUSED = 'ACCESS_GRANT_REFUSED',
  /** A grantee read the owner's data (in the OWNER's journal: which grant, which account, what). */
  SHARED_DATA_READ = 'SHARED_DATA_READ',
}

export interface AuditEntry {
  tenantId: string;
  action: AuditAction;
  actor: string;
  resourceType?: string;
  resourceId?: string;
  details?: Record<string, string | number | boolean | null>;
}

/** Whose work a bank call is: set around adapter calls so the call's audit line lands in the right tenant. */
export interface BankCallScope {
  tenantId: string;
  consentId?: string;
  actor: string;
}

const bankCallScope = new AsyncLocalStorage<BankCallScope>();

/** The least time between two inserts of bank-call lines; lines that come meanwhile wait for the next one. */
const BANK_CALL_BATCH_MS = 50;

/**
 * The audit journal: consent changes, bank calls (institution, operation, status, latency, request
 * id) and key management, per tenant. Entries carry identifiers and outcomes, never payloads,
 * tokens or personal data.
 */
export class AuditService {
  /** Bank-call lines not yet written (the call that made one does not wait for it): the next insert takes them all. */
  private queued: unknown[][] = [];
  /** The insert in flight, or the wait before it. */
  private writing: Promise<void> | null = null;
  /** Ends the wait before the next insert at once (flush). */
  private writeNow: (() => void) | null = null;
  /** When the latest insert started (performance.now()). */
  private lastWriteAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly orm: MikroORM,
    private readonly logger: Logger,
    /** When given, bank-call lines are written with plain INSERTs, one per batch (see scheduleWrite). */
    private readonly sql?: Pick<pg.Pool, 'query'>,
  ) {}

  /** Adds an entry within the caller's unit of work (flushed with the change it describes). */
  add(em: EntityManager, entry: AuditEntry): void {
    em.create(AuditEvent, {
      tenantId: entry.tenantId,
      action: entry.action,
      actor: entry.actor,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      details: entry.details ?? {},
    });
  }

  /** Writes an entry with a plain client inside the caller's open transaction (modules that write with SQL). */
  async append(client: Pick<pg.PoolClient, 'query'>, entry: AuditEntry): Promise<void> {
    await client.query(
      `insert into audit_event (id, tenant_id, created_at, action, actor, resource_type, resource_id, details) values (gen_random_uuid(), $1, now(), $2, $3, $4, $5, $6)`,
      [entry.tenantId, entry.action, entry.actor, entry.resourceType ?? null, entry.resourceId ?? null, JSON.stringify(entry.details ?? {})],
    );
  }

  /** Runs `fn` with bank calls attributed to `scope`. */
  withBankCallScope<T>(scope: BankCallScope, fn: () => Promise<T>): Promise<T> {
    return bankCallScope.run(scope, fn);
  }

  /** The adapters' `onCall` hook: one journal line per bank call attempt, outside any request transaction. */
  recordBankCall = (record: BankCallRecord): void => {
    const scope = bankCallScope.getStore();
    if (!scope) return; // calls outside a tenant's work (discovery at start-up) belong to no journal
    const entry: AuditEntry = {
      tenantId: scope.tenantId,
      action: AuditAction.BANK_CALL,
      actor: scope.actor,
      resourceType: scope.consentId ? 'Consent' : undefined,
      resourceId: scope.consentId,
      details: {
        institutionId: record.institutionId,
        operation: record.operation,
        method: record.method,
        path: record.path,
        status: record.status ?? null,
        latencyMs: Math.round(record.latencyMs),
        requestId: record.requestId || null,
        attempt: record.attempt,
        outcome: record.outcome,
        errorCode: record.errorCode ?? null,
      },
    };
    if (this.sql) {
      // The time of the call, not of the insert: the journal's order is the order things happened.
      this.queued.push([
        entry.tenantId,
        new Date(),
        entry.action,
        entry.actor,
        entry.resourceType ?? null,
        entry.resourceId ?? null,
        JSON.stringify(entry.details),
      ]);
      this.scheduleWrite(this.sql);
      return;
    }
    const em = this.orm.em.fork();
    this.add(em, entry);
    em.flush().catch((err: Error) => this.logger.warn({ err: err.message }, 'audit: bank call not recorded'));
  };

  /**
   * Starts the next insert of queued lines unless one is in flight or waiting. A line after a
   * quiet spell is written at once; while lines keep coming (a sync reads one page after another),
   * each insert waits until BANK_CALL_BATCH_MS after the previous one started, so one statement
   * carries every line of that time instead of one or two: the per-statement cost (a pooled
   * connection, a round trip, the socket writes) was most of what the journal cost a sync.
   */
  private scheduleWrite(sql: Pick<pg.Pool, 'query'>): void {
    if (this.writing || this.queued.length === 0) return;
    // One insert carries the lines of every tenant queued meanwhile, whoever's call started it: system work.
    this.writing = asSystem('audit: bank-call journal', async () => {
      const wait = this.lastWriteAt + BANK_CALL_BATCH_MS - performance.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.writeNow = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.writeNow = null;
      }
      this.lastWriteAt = performance.now();
      await this.writeQueued(sql);
    }).finally(() => {
      this.writing = null;
      // Lines that came during the insert: the next one, after its wait.
      this.scheduleWrite(sql);
    });
  }

  /** Writes every queued bank-call line now and waits for them (before a read of the journal, and at shutdown). */
  async flush(): Promise<void> {
    while (this.writing) {
      this.writeNow?.();
      await this.writing;
    }
  }

  /** The lines queued so far, 1,000 per INSERT; lines queued meanwhile wait for the next write. */
  private async writeQueued(sql: Pick<pg.Pool, 'query'>): Promise<void> {
    const lines = this.queued;
    this.queued = [];
    for (let i = 0; i < lines.length; i += 1_000) {
      const batch = lines.slice(i, i + 1_000);
      const insert = (rows: unknown[][]) =>
        sql.query(
          `insert into audit_event (id, tenant_id, created_at, action, actor, resource_type, resource_id, details)
           select gen_random_uuid(), u.tenant_id, u.created_at, u.action, u.actor, u.resource_type, u.resource_id, u.details
           from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::jsonb[])
             as u(tenant_id, created_at, action, actor, resource_type, resource_id, details)`,
          [0, 1, 2, 3, 4, 5, 6].map((i) => rows.map((row) => row[i])),
        );
      try {
        await insert(batch);
      } catch (err) {
        // One bad line (its tenant just deleted) must not take the others with it: each alone then.
        if (batch.length === 1) this.logger.warn({ err: (err as Error).message }, 'audit: bank call not recorded');
        else for (const row of batch) await insert([row]).catch((e: Error) => this.logger.warn({ err: e.message }, 'audit: bank call not recorded'));
      }
    }
  }

  async list(em: EntityManager, caller: Caller, action: AuditAction | null | undefined, limit: number, after?: KeysetPosition): Promise<AuditEvent[]> {
    await this.flush(); // this process's journal lines are readable as soon as their call returned
    return em.find(
      AuditEvent,
      { tenantId: caller.tenantId, ...(action ? { action } : {}), ...afterPosition(after) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }
}
