import { z } from 'zod';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { afterPosition, type KeysetPosition } from '../../kernel/keyset';
import { toGlobalId } from '../../kernel/ids';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import type { AdapterRegistry } from '../../banking/adapters';
import { BankCancellationAuthorisationRequired, BankErrorCode, isBankError } from '../../banking/errors';
import type { BankPaymentStatus, InstitutionDescriptor, PaymentStatus } from '../../banking/model';
import type { BankCallContext, PaymentRequest } from '../../banking/ports';
import type { Jobs } from '../../platform/jobs';
import type { Logger } from '../../platform/logger';
import { AuditAction, type AuditService } from '../audit';
import { redirectBack, type CallbackResult } from '../consents';
import { paymentStatusChangedProof } from './payment.proofs';
import type { ProofsService } from '../proofs';
import { addEvents, EventType } from '../events';
import { bankFailureLog, isBankFailure } from '../institutions';
import type { InstitutionsService } from '../institutions';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';
import type { Outcome } from '../../kernel/problems';
import type { TenancyService } from '../tenancy';
import type { VaultService } from '../vault';
import { Payment } from './payment.entity';
import { checkIdempotencyKey, validatePayment, type PaymentDraft, type ValidPayment } from './validation';

/** Queue of the durable jobs that follow a payment's status at the bank until it is final. */
export const PAYMENT_POLL_QUEUE = 'payment-status-poll';
/** Queue of the minutely sweep that fails payments left AWAITING_APPROVAL past their time. */
export const APPROVAL_EXPIRY_QUEUE = 'payment-approval-expiry';
/** The default of APPROVAL_PENDING_TTL_HOURS: a week. */
const DEFAULT_APPROVAL_PENDING_TTL_MS = 168 * 3_600_000;
/** Payments one sweep fails at most; the next minute takes the rest. */
const APPROVAL_EXPIRY_BATCH = 200;

/** How long the end user has to finish the bank's authentication before the payment fails. */
export const PAYMENT_SCA_TIMEOUT_MS = 30 * 60_000;
/** Status polling backs off from 2 s, doubling, to at most 5 minutes between looks. */
export const POLL_FIRST_S = 2;
export const POLL_MAX_S = 300;
/** Every payment callback's `state` starts with this, so the shared `/callback` route can tell it from a consent's. */
export const PAYMENT_STATE_PREFIX = 'pay_';
const LOCK_NAMESPACE = 4_242_010;

export const TERMINAL_STATUSES: ReadonlySet<PaymentStatus> = new Set(['EXECUTED', 'REJECTED', 'CANCELLED', 'FAILED', 'REJECTED_BY_APPROVER']);

const sha256 = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');
const todayUtc = () => new Date().toISOString().slice(0, 10);

/** Whether a callback `state` belongs to a payment. */
export function isPaymentState(state: string | null): boolean {
  return !!state && state.startsWith(PAYMENT_STATE_PREFIX);
}

export interface PaymentInitiateInput extends PaymentDraft {
  /** Decoded internal ids; null when the global id did not decode. */
  institutionId: string | null;
  endUserId: string | null;
  redirectUri: string;
  /** The end user's login at the bank, for decoupled SCA; sent on the first call only, never stored. */
  psuId?: string | null;
  /** The member (of the end user's approval setup) asking for the payment; undefined when not given, null when the id did not decode. */
  requestedBy?: string | null;
}

/** What an end user's approval policy asks of a new payment. */
export interface ApprovalHold {
  policyId: string;
  policyVersion: number;
  /** Distinct approvers needed; 0: the policy lets this payment through. */
  required: number;
}

/**
 * The port through which an end user's approval policy holds a payment back before any bank
 * call (implemented by the approvals module).
 */
export interface ApprovalGate {
  /** The policy version in force for the end user and what it asks of this payment; null: no policy. */
  assess(em: EntityManager, tenantId: string, endUserId: string, payment: ValidPayment): Promise<ApprovalHold | null>;
  /** Whether a member of this end user may request payments (role REQUESTER or APPROVER). */
  mayRequest(em: EntityManager, tenantId: string, endUserId: string, memberId: string): Promise<boolean>;
  /** Writes what a held payment's creation tells (PAYMENT_APPROVAL_REQUESTED, its journal line) in the creation's unit of work. */
  held(em: EntityManager, payment: Payment, hold: ApprovalHold, actor: string): void;
}

/** A PSU-ID as banks take it: no blanks, no control characters, bounded. */
const psuIdRule = z
  .string()
  .trim()
  .min(1, { message: 'must not be blank' })
  .max(100, { message: 'at most 100 characters' })
  .regex(/^[^\p{C}]+$/u, { message: 'must not contain control characters' });

/** A payment and where to send the end user to approve it. */
export interface PaymentLink {
  payment: Payment;
  authorizationUrl: string | null;
}

/** A payload that may carry the payment together with userErrors (a bank refusal keeps its FAILED payment). */
export type PaymentOutcome = { payment: Payment | null; authorizationUrl: string | null; userErrors: Problem[] };

export interface PaymentsDeps {
  orm: MikroORM;
  jobs: Jobs | null;
  audit: AuditService;
  institutions: InstitutionsService;
  tenancy: TenancyService;
  vault: VaultService;
  adapters: AdapterRegistry;
  logger: Logger;
  publicUrl: string;
  /**
   * PostgreSQL URL for cross-process idempotency locks (advisory locks on a connection of their
   * own). Null on embedded PGlite, where every connection is one session and advisory locks
   * exclude nothing: there one process serves the database, and the in-process lock, the unique
   * key row and the bank's own deduplication of the gateway's key do the work.
   */
  lockUrl: string | null;
  /** Approval policies: a payment they hold waits AWAITING_APPROVAL, with no bank call, until released. */
  approvalGate?: ApprovalGate | null;
  /** How long a payment may stay AWAITING_APPROVAL before {@link PaymentsService.expireAwaitingApproval} fails it (config APPROVAL_PENDING_TTL_HOURS). */
  approvalPendingTtlMs?: number;
  /** Every status change appends its proof record in the same flush. */
  proofs: ProofsService;
}

/**
 * Payments end to end: checked input, idempotent initiation at the bank, the end user's return
 * through the shared callback, durable status polling until final, and cancellation. Every
 * status change is stored in one transaction with its PAYMENT_STATUS_CHANGED event and its audit
 * line.
 */
export class PaymentsService {
  private readonly keyLocks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: PaymentsDeps) {}

  get callbackUrl(): string {
    return `${this.deps.publicUrl}/callback`;
  }

  // --- initiation ------------------------------------------------------------------------------

  async initiate(em: EntityManager, caller: Caller, input: PaymentInitiateInput, idempotencyKey: string): Promise<PaymentOutcome> {
    const errors: Problem[] = checkIdempotencyKey(idempotencyKey);
    const endUser = input.endUserId ? await em.findOne(EndUser, { id: input.endUserId, tenant: caller.tenantId }) : null;
    if (!endUser) errors.push(problem(['input', 'endUserId'], ProblemCode.NOT_FOUND, 'No end user with this id.'));
    const institution = input.institutionId ? this.deps.institutions.get(caller, input.institutionId) : undefined;
    if (!institution) errors.push(problem(['input', 'institutionId'], ProblemCode.NOT_FOUND, 'No institution with this id for this environment.'));
    const checked = validatePayment(input, { today: todayUtc(), institution: institution ?? null });
    if (!checked.ok) errors.push(...checked.userErrors);
    const psuId = input.psuId === undefined || input.psuId === null ? undefined : psuIdRule.safeParse(input.psuId);
    if (psuId && !psuId.success) errors.push(problem(['input', 'psuId'], ProblemCode.INVALID, `psuId ${psuId.error.issues[0]?.message ?? 'is invalid'}.`));
    const requester = input.requestedBy;
    if (
      requester !== undefined &&
      (!requester || !endUser || !this.deps.approvalGate || !(await this.deps.approvalGate.mayRequest(em, caller.tenantId, endUser.id, requester)))
    ) {
      errors.push(
        problem(
          ['input', 'requestedBy'],
          ProblemCode.NOT_FOUND,
          'No member of this end user who may request payments (role REQUESTER or APPROVER) has this id.',
        ),
      );
    }
    if (!(await this.deps.tenancy.isRedirectUriAllowed(em, caller, input.redirectUri))) {
      errors.push(
        problem(
          ['input', 'redirectUri'],
          ProblemCode.NOT_ALLOWED,
          caller.environment === 'sandbox'
            ? 'Add this URI with redirectUriAdd first (sandbox tenants may also use http://localhost or http://127.0.0.1).'
            : 'Add this https URI with redirectUriAdd first.',
        ),
      );
    }
    if (errors.length > 0 || !endUser || !institution || !checked.ok) return { payment: null, authorizationUrl: null, userErrors: errors };

    const redirectUri = new URL(input.redirectUri).href;
    const requestHash = sha256(canonicalRequest(institution.id, endUser.id, checked.value, redirectUri, requester ?? null));
    return this.withKeyLock(caller.tenantId, idempotencyKey, async () => {
      const db = this.deps.orm.em.fork();
      let payment = await this.byKey(db, caller, idempotencyKey, requestHash);
      if (payment === 'REUSED') return reused();
      if (!payment) {
        const hold = (await this.deps.approvalGate?.assess(db, caller.tenantId, endUser.id, checked.value)) ?? null;
        payment = await this.createRow(db, caller, endUser.id, institution, checked.value, redirectUri, idempotencyKey, requestHash, hold, requester ?? null);
        if (payment === 'REUSED') return reused();
      }
      // Held by an approval policy (or rejected by an approver): nothing goes to the bank.
      if (payment.status === 'AWAITING_APPROVAL' || payment.status === 'REJECTED_BY_APPROVER') return { payment, authorizationUrl: null, userErrors: [] };
      if (payment.initiation === 'PENDING')
        return this.startAtBank(db, payment, institution, `apiKey:${caller.apiKeyId}`, psuId?.success ? psuId.data : undefined);
      return this.answer(payment);
    });
  }

  /** The payment an idempotency key already names, 'REUSED' when it was for another request. */
  private async byKey(em: EntityManager, caller: Caller, key: string, requestHash: string): Promise<Payment | 'REUSED' | null> {
    const rows = await em.execute<{ payment_id: string; request_hash: string }[]>(
      'select payment_id, request_hash from payment_idempotency where tenant_id = ? and key = ?',
      [caller.tenantId, key],
    );
    const row = rows[0];
    if (!row) return null;
    if (row.request_hash !== requestHash) return 'REUSED';
    return em.findOneOrFail(Payment, { id: row.payment_id }, { populate: ['tenant', 'sealedState', 'secrets'], refresh: true });
  }

  /**
   * Stores the payment and its key before any bank call: the gateway's idempotency key for the
   * bank and the callback state are fixed from here on, so every later try sends the same.
   */
  private async createRow(
    em: EntityManager,
    caller: Caller,
    endUserId: string,
    institution: InstitutionDescriptor,
    p: ValidPayment,
    redirectUri: string,
    key: string,
    requestHash: string,
    hold: ApprovalHold | null = null,
    requesterMemberId: string | null = null,
  ): Promise<Payment | 'REUSED'> {
    const held = hold !== null && hold.required > 0;
    const id = randomUUID();
    const state = `${PAYMENT_STATE_PREFIX}${randomBytes(32).toString('base64url')}`;
    const sealedState = await this.deps.vault.seal(state, { tenantId: caller.tenantId, ownerId: id, purpose: 'payment-state' });
    try {
      await em.transactional(async (tx) => {
        const payment = tx.create(Payment, {
          id,
          tenant: tx.getReference(Tenant, caller.tenantId),
          endUser: tx.getReference(EndUser, endUserId),
          institutionId: institution.id,
          scheme: p.scheme,
          debtorIban: p.debtorAccount?.iban ?? null,
          creditorName: p.creditor.name,
          creditorIban: p.creditor.iban,
          creditorBic: p.creditor.bic,
          amount: p.amount.amount,
          currency: p.amount.currency,
          remittanceInformation: p.remittanceInformation,
          endToEndId: p.endToEndId,
          requestedExecutionDate: p.requestedExecutionDate,
          redirectUri,
          status: held ? 'AWAITING_APPROVAL' : 'AUTHORIZATION_REQUIRED',
          initiation: 'PENDING',
          approvalPolicyId: hold?.policyId ?? null,
          approvalsRequired: held ? hold.required : 0,
          requesterMemberId,
          gatewayIdempotencyKey: randomUUID(),
          stateHash: sha256(state),
          sealedState,
          attemptExpiresAt: new Date(Date.now() + PAYMENT_SCA_TIMEOUT_MS),
        });
        if (held) this.deps.approvalGate!.held(tx, payment, hold, `apiKey:${caller.apiKeyId}`);
        await tx.flush();
        await tx.execute('insert into payment_idempotency (tenant_id, key, request_hash, payment_id, created_at) values (?, ?, ?, ?, ?)', [
          caller.tenantId,
          key,
          requestHash,
          payment.id,
          new Date(),
        ]);
      });
    } catch (err) {
      // Another process took the key first (only possible where advisory locks exclude nothing).
      await this.deps.vault.shred({ tenantId: caller.tenantId, ownerId: id }).catch(() => undefined);
      if (!(err instanceof UniqueConstraintViolationException)) throw err;
      const existing = await this.byKey(em.fork(), caller, key, requestHash);
      if (!existing) throw err;
      return existing;
    }
    return em.findOneOrFail(Payment, { id }, { populate: ['tenant', 'sealedState', 'secrets'], refresh: true });
  }

  /** The first bank call (or its retry with the same gateway key after an unknown outcome). */
  private async startAtBank(em: EntityManager, payment: Payment, institution: InstitutionDescriptor, actor: string, psuId?: string): Promise<PaymentOutcome> {
    const request = { ...(await this.bankRequest(payment)), ...(psuId ? { psuId } : {}) };
    try {
      const started = await this.deps.audit.withBankCallScope({ tenantId: payment.tenant.id, actor }, () =>
        this.deps.adapters.for(institution).payments.initiate(this.ctx(institution), request),
      );
      payment.bankPaymentId = started.bankPaymentId;
      payment.authorizationUrl = started.authorizationUrl;
      payment.secrets = await this.deps.vault.seal(JSON.stringify(started.secrets), this.sealContext(payment, 'payment-secrets'));
      payment.initiation = 'STARTED';
      this.journal(em, payment, AuditAction.PAYMENT_INITIATED, actor, {
        institutionId: institution.id,
        scheme: payment.scheme,
        amount: payment.amount,
        currency: payment.currency,
      });
      this.change(em, payment, started.status, null, actor, { journal: false, force: true });
      await em.flush(); // one transaction: the bank's answer, its event and the journal line
      await this.deps.jobs?.send(PAYMENT_POLL_QUEUE, { paymentId: payment.id, attempt: 0, expiry: true }, { startAfter: payment.attemptExpiresAt });
      // Decoupled SCA: no callback will come; ask the bank until the end user has decided in its app.
      if (started.authorizationUrl === null)
        await this.deps.jobs?.send(PAYMENT_POLL_QUEUE, { paymentId: payment.id, attempt: 0, decoupled: true }, { startAfter: POLL_FIRST_S });
      return this.answer(payment);
    } catch (err) {
      // Only the bank's failures are the bank's: a vault, database or queue fault reaches the formatter (masked, logged
      // whole); the payment stays PENDING and a retry with the same key sends the same gateway key to the bank.
      if (!isBankFailure(err)) throw err;
      this.deps.logger.warn({ paymentId: payment.id, ...bankFailureLog(err), institutionId: institution.id }, 'payment initiation at the bank failed');
      if (isBankError(err, BankErrorCode.INVALID_REQUEST)) {
        // A definite refusal: the payment is over, and the key keeps answering it.
        payment.initiation = 'REFUSED';
        this.change(em, payment, { status: 'FAILED', rawStatus: 'RJCT', reasonCode: null }, `${institution.name} refused the payment.`, actor, { force: true });
        await em.flush();
        return {
          payment,
          authorizationUrl: null,
          userErrors: [
            problem(
              ['input'],
              ProblemCode.BANK_ERROR,
              `${institution.name} refused the payment; it is FAILED. Check the details and initiate a new one with a new idempotency key.`,
            ),
          ],
        };
      }
      // Unknown outcome (timeout, 5xx): nothing is decided. A retry sends the same gateway key, so the bank never pays twice.
      return {
        payment,
        authorizationUrl: null,
        userErrors: [
          problem(
            ['input'],
            ProblemCode.BANK_ERROR,
            `${institution.name} did not answer. Retry with the same idempotencyKey: the bank then sees the same request and never pays twice.`,
          ),
        ],
      };
    }
  }

  private answer(payment: Payment): PaymentOutcome {
    if (payment.initiation === 'REFUSED') {
      return { payment, authorizationUrl: null, userErrors: [problem(['input'], ProblemCode.BANK_ERROR, 'The bank refused this payment; it is FAILED.')] };
    }
    return { payment, authorizationUrl: this.usableAuthorizationUrl(payment), userErrors: [] };
  }

  /** Where to send the end user to authorise the payment at the bank, while they still can. */
  usableAuthorizationUrl(payment: Payment): string | null {
    // The link is only worth giving while the end user can still use it.
    const usable = payment.initiation === 'STARTED' && !payment.terminal && !payment.authorisedAt && payment.attemptExpiresAt > new Date();
    return usable ? payment.authorizationUrl : null;
  }

  /**
   * Serialises work on one idempotency key: in this process with a promise chain (so 50
   * concurrent requests hold no database connections while they wait), across processes with a
   * PostgreSQL advisory lock on a connection of its own, held across the bank call.
   */
  private async withKeyLock<T>(tenantId: string, key: string, fn: () => Promise<T>): Promise<T> {
    const id = `${tenantId}:${key}`; // a uuid never holds ":", so this names one tenant’s key
    const previous = this.keyLocks.get(id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.withAdvisoryLock(id, fn));
    this.keyLocks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.keyLocks.get(id) === run) this.keyLocks.delete(id);
    }
  }

  private async withAdvisoryLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    if (!this.deps.lockUrl) return fn();
    const client = new pg.Client({ connectionString: this.deps.lockUrl });
    await client.connect();
    try {
      await client.query('select pg_advisory_lock($1, hashtext($2))', [LOCK_NAMESPACE, id]);
      return await fn();
    } finally {
      // Ending the session releases the lock whatever happened.
      await client.end().catch(() => undefined);
    }
  }

  // --- the end user's return -------------------------------------------------------------------

  /**
   * Handles `GET /callback?state=pay_…`: lets the adapter finish the payment at the bank, stores
   * the status and sends the end user to the developer's redirect URI with `paymentId` and
   * `outcome` (success, rejected, failed). A refused or abandoned authentication is a status and
   * a redirect, never an error page; only an unknown state gets one.
   */
  async completeCallback(em: EntityManager, callbackUrl: string): Promise<CallbackResult> {
    const state = new URL(callbackUrl).searchParams.get('state');
    if (!state || state.length > 200 || !isPaymentState(state)) return invalidLinkPage();
    const cancellation = await this.claimCancellation(em, state, callbackUrl);
    if (cancellation) return cancellation;
    const payment = await em.findOne(Payment, { stateHash: sha256(state) }, { populate: ['tenant', 'secrets', 'sealedState'] });
    if (!payment) return invalidLinkPage();
    const caller: Caller = { tenantId: payment.tenant.id, environment: payment.tenant.environment, apiKeyId: 'callback' };
    const institution = this.deps.institutions.get(caller, payment.institutionId);
    // A second visit (reload, back button) changes nothing: it is told how the payment stands.
    if (payment.authorisedAt || payment.terminal || payment.initiation !== 'STARTED' || !institution || !payment.bankPaymentId) {
      return this.backToDeveloper(payment, outcomeOf(payment));
    }
    // One use only: one statement marks the return as handled before any bank call, so of simultaneous
    // visits exactly one completes at the bank; the others are told how the payment stands.
    const [claimed] = await em.execute<{ id: string }[]>(
      `update payment set authorised_at = now() where id = ? and authorised_at is null and terminal = false and initiation = 'STARTED' returning id`,
      [payment.id],
    );
    if (!claimed) {
      await em.refresh(payment);
      return this.backToDeveloper(payment, outcomeOf(payment));
    }
    payment.authorisedAt = new Date();
    if (payment.attemptExpiresAt < new Date()) {
      this.change(
        em,
        payment,
        { status: 'FAILED', rawStatus: payment.rawStatus ?? 'RJCT', reasonCode: null },
        'The end user did not finish the bank’s authentication in time.',
        'endUser',
      );
      await em.flush();
      return this.backToDeveloper(payment, 'failed');
    }
    try {
      const secrets = await this.openSecrets(payment);
      const done = await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, actor: 'endUser' }, async () =>
        this.deps.adapters.for(institution).payments.complete(this.ctx(institution), {
          callbackUrl,
          bankPaymentId: payment.bankPaymentId!,
          secrets,
          idempotencyKey: payment.gatewayIdempotencyKey,
          request: await this.bankRequest(payment),
        }),
      );
      if (done.outcome === 'AUTHORISED') {
        payment.bankPaymentId = done.bankPaymentId;
        // The adapter's secrets after completion replace the initiation's (UK: what a repeated complete needs).
        payment.secrets = await this.deps.vault.seal(JSON.stringify(done.secrets), this.sealContext(payment, 'payment-secrets'));
        payment.authorisedAt = new Date();
        this.journal(em, payment, AuditAction.PAYMENT_AUTHORISED, 'endUser', { institutionId: institution.id });
        this.change(em, payment, done.status, null, 'endUser');
        await em.flush();
        if (!payment.terminal) await this.deps.jobs?.send(PAYMENT_POLL_QUEUE, { paymentId: payment.id, attempt: 0 }, { startAfter: POLL_FIRST_S });
        return this.backToDeveloper(payment, payment.status === 'REJECTED' ? 'rejected' : payment.status === 'FAILED' ? 'failed' : 'success');
      }
      const status: BankPaymentStatus = done.status ?? { status: done.outcome === 'REJECTED' ? 'REJECTED' : 'FAILED', rawStatus: 'RJCT', reasonCode: null };
      this.change(em, payment, { ...status, status: TERMINAL_STATUSES.has(status.status) ? status.status : done.outcome }, done.reason, 'endUser');
      await em.flush();
      return this.backToDeveloper(payment, done.outcome === 'REJECTED' ? 'rejected' : 'failed');
    } catch (err) {
      if (isBankFailure(err))
        this.deps.logger.warn({ paymentId: payment.id, ...bankFailureLog(err), institutionId: institution.id }, 'payment callback failed at the bank');
      else this.deps.logger.error({ paymentId: payment.id, institutionId: institution.id, err }, 'payment callback failed');
      // The bank's verdict is unknown: follow the status at the bank rather than guess.
      payment.authorisedAt = new Date();
      this.journal(em, payment, AuditAction.PAYMENT_AUTHORISED, 'endUser', { institutionId: institution.id, outcome: 'UNCONFIRMED' });
      await em.flush();
      await this.deps.jobs?.send(PAYMENT_POLL_QUEUE, { paymentId: payment.id, attempt: 0 }, { startAfter: POLL_FIRST_S });
      return this.backToDeveloper(payment, 'failed');
    }
  }

  // --- status ----------------------------------------------------------------------------------

  /** Declares the status queue and, with `work`, follows payments in this process. */
  async start(options: { work: boolean }): Promise<void> {
    const jobs = this.deps.jobs;
    if (!jobs) return;
    await jobs.define(PAYMENT_POLL_QUEUE, { retryLimit: 5, retryDelay: 5, retryBackoff: true, expireInSeconds: 120 });
    await jobs.define(APPROVAL_EXPIRY_QUEUE, { retryLimit: 0, expireInSeconds: 120 });
    if (options.work) {
      await jobs.work(APPROVAL_EXPIRY_QUEUE, { concurrency: 1, pollingIntervalSeconds: 5 }, async () => {
        await this.expireAwaitingApproval();
      });
      await jobs.schedule(APPROVAL_EXPIRY_QUEUE, '* * * * *');
      await jobs.work<{ paymentId: string; attempt: number; expiry?: boolean; decoupled?: boolean }>(
        PAYMENT_POLL_QUEUE,
        { concurrency: 2, pollingIntervalSeconds: 1 },
        async (job) => {
          await this.pollStatus(job.data.paymentId, job.data.attempt, { expiryCheck: job.data.expiry === true, decoupled: job.data.decoupled === true });
        },
      );
    }
  }

  /**
   * Fails the payments AWAITING_APPROVAL for longer than APPROVAL_PENDING_TTL_HOURS (counted from
   * creation, so amendments do not extend it): FAILED with a reason, its PAYMENT_STATUS_CHANGED
   * event, journal line and proof record, and no bank call. Each payment is taken under its row
   * lock and its status checked again there, the way approvals and amendments take it: of two
   * sweeps (two workers), or a sweep and a last approval, exactly one changes it.
   */
  async expireAwaitingApproval(now = new Date()): Promise<{ expired: number }> {
    const ttlMs = this.deps.approvalPendingTtlMs ?? DEFAULT_APPROVAL_PENDING_TTL_MS;
    const cutoff = new Date(now.getTime() - ttlMs);
    const due = await this.deps.orm.em
      .fork()
      .find(
        Payment,
        { status: 'AWAITING_APPROVAL', createdAt: { $lte: cutoff } },
        { fields: ['id'], orderBy: { createdAt: 'asc', id: 'asc' }, limit: APPROVAL_EXPIRY_BATCH },
      );
    const hours = Math.round((ttlMs / 3_600_000) * 100) / 100;
    let expired = 0;
    for (const { id } of due) {
      await this.deps.orm.em.fork().transactional(async (tx) => {
        await tx.execute('select id from payment where id = ? for update', [id]);
        const p = await tx.findOne(Payment, { id }, { populate: ['tenant', 'endUser'], refresh: true });
        if (!p || p.status !== 'AWAITING_APPROVAL' || p.createdAt > cutoff) return;
        if (
          this.change(
            tx,
            p,
            { status: 'FAILED', rawStatus: null, reasonCode: null },
            `Not approved within ${hours} hours; nothing was sent to the bank.`,
            'system',
          )
        )
          expired++;
      });
    }
    if (expired) this.deps.logger.info({ expired }, 'payments awaiting approval expired');
    return { expired };
  }

  /**
   * One look at a payment: final → nothing more; never authorised and past the attempt's
   * lifetime → FAILED; authorised → ask the bank, store a change, and look again later (2 s
   * doubling to 5 min) until final. Safe to run twice (jobs are at least once).
   */
  async pollStatus(paymentId: string, attempt: number, options: { expiryCheck?: boolean; decoupled?: boolean } = {}): Promise<'DONE' | 'AGAIN' | 'WAITING'> {
    const em = this.deps.orm.em.fork();
    const payment = await em.findOne(Payment, { id: paymentId }, { populate: ['tenant', 'secrets'] });
    if (!payment || payment.terminal) return 'DONE';
    if (options.decoupled && !payment.authorisedAt && payment.attemptExpiresAt > new Date()) return this.pollDecoupled(em, payment, attempt);
    // The check sent at initiation only fails an abandoned authorisation; the callback started the polling.
    if (options.expiryCheck && payment.authorisedAt) return 'DONE';
    if (!payment.authorisedAt) {
      if (payment.attemptExpiresAt > new Date()) return 'WAITING'; // the job sent at initiation comes back at expiry
      this.change(
        em,
        payment,
        { status: 'FAILED', rawStatus: payment.rawStatus ?? 'RJCT', reasonCode: null },
        'The end user did not finish the bank’s authentication in time.',
        'system',
      );
      await em.flush();
      return 'DONE';
    }
    const institution = this.deps.institutions.get(
      { tenantId: payment.tenant.id, environment: payment.tenant.environment, apiKeyId: 'poll' },
      payment.institutionId,
    );
    if (!institution || !payment.bankPaymentId) return 'DONE';
    const status = await this.deps.audit.withBankCallScope({ tenantId: payment.tenant.id, actor: 'system' }, async () =>
      this.deps.adapters
        .for(institution)
        .payments.status(this.ctx(institution), { bankPaymentId: payment.bankPaymentId!, secrets: await this.openSecrets(payment) }),
    );
    this.change(em, payment, status, null, 'system');
    await em.flush();
    if (payment.terminal) return 'DONE';
    const delay = Math.min(POLL_MAX_S, POLL_FIRST_S * 2 ** (attempt + 1));
    await this.deps.jobs?.send(PAYMENT_POLL_QUEUE, { paymentId, attempt: attempt + 1 }, { startAfter: delay });
    return 'AGAIN';
  }

  /**
   * One look at a decoupled authorisation: the end user's decision in the bank's app, taken as
   * the callback takes a redirect's; undecided → look again (2 s doubling, at most 30 s) until the
   * attempt expires, when the expiry check fails it.
   */
  private async pollDecoupled(em: EntityManager, payment: Payment, attempt: number): Promise<'DONE' | 'AGAIN'> {
    const caller: Caller = { tenantId: payment.tenant.id, environment: payment.tenant.environment, apiKeyId: 'poll' };
    const institution = this.deps.institutions.get(caller, payment.institutionId);
    const adapter = institution && this.deps.adapters.for(institution);
    if (!institution || !adapter?.payments.poll || !payment.bankPaymentId) return 'DONE';
    const done = await this.deps.audit.withBankCallScope({ tenantId: payment.tenant.id, actor: 'system' }, async () =>
      adapter.payments.poll!(this.ctx(institution), { bankPaymentId: payment.bankPaymentId!, secrets: await this.openSecrets(payment) }),
    );
    if (done.outcome === 'PENDING') {
      await this.deps.jobs?.send(
        PAYMENT_POLL_QUEUE,
        { paymentId: payment.id, attempt: attempt + 1, decoupled: true },
        { startAfter: Math.min(30, POLL_FIRST_S * 2 ** attempt) },
      );
      return 'AGAIN';
    }
    if (done.outcome === 'AUTHORISED') {
      payment.bankPaymentId = done.bankPaymentId;
      payment.secrets = await this.deps.vault.seal(JSON.stringify(done.secrets), this.sealContext(payment, 'payment-secrets'));
      payment.authorisedAt = new Date();
      this.journal(em, payment, AuditAction.PAYMENT_AUTHORISED, 'endUser', { institutionId: institution.id, approach: 'DECOUPLED' });
      this.change(em, payment, done.status, null, 'endUser');
      await em.flush();
      if (!payment.terminal) await this.deps.jobs?.send(PAYMENT_POLL_QUEUE, { paymentId: payment.id, attempt: 0 }, { startAfter: POLL_FIRST_S });
      return 'DONE';
    }
    const status: BankPaymentStatus = done.status ?? { status: done.outcome === 'REJECTED' ? 'REJECTED' : 'FAILED', rawStatus: 'RJCT', reasonCode: null };
    this.change(em, payment, { ...status, status: TERMINAL_STATUSES.has(status.status) ? status.status : done.outcome }, done.reason, 'endUser');
    await em.flush();
    return 'DONE';
  }

  // --- cancellation ----------------------------------------------------------------------------

  /** Cancels at the bank where its standard allows it and the payment is not final yet. */
  async cancel(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<PaymentLink>> {
    const payment = id ? await em.findOne(Payment, { id, tenant: caller.tenantId }, { populate: ['tenant', 'secrets'] }) : null;
    if (!payment) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'No payment with this id.')] };
    const institution = this.deps.institutions.get(caller, payment.institutionId);
    const adapter = institution && this.deps.adapters.for(institution);
    if (payment.terminal) {
      return {
        ok: false,
        userErrors: [problem(['id'], ProblemCode.NOT_CANCELLABLE, `The payment is ${payment.status}: final, it can no longer be cancelled.`)],
      };
    }
    if (payment.status === 'AWAITING_APPROVAL') {
      // Never sent to the bank: cancelled here, with one atomic update against a concurrent release.
      const [won] = await em.execute<{ id: string }[]>(
        `update payment set status = 'CANCELLED', terminal = true where id = ? and status = 'AWAITING_APPROVAL' returning id`,
        [payment.id],
      );
      if (!won) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_CANCELLABLE, 'The payment was approved or rejected meanwhile; try again.')] };
      this.change(
        em,
        payment,
        { status: 'CANCELLED', rawStatus: null, reasonCode: null },
        'Cancelled through the API before it was approved.',
        `apiKey:${caller.apiKeyId}`,
      );
      await em.flush();
      return { ok: true, value: { payment, authorizationUrl: null } };
    }
    if (!institution || !adapter?.payments.cancel || !payment.bankPaymentId) {
      return {
        ok: false,
        userErrors: [problem(['id'], ProblemCode.NOT_CANCELLABLE, `${institution?.name ?? 'This bank'} offers no cancellation of payments through its API.`)],
      };
    }
    try {
      const status = await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, actor: `apiKey:${caller.apiKeyId}` }, async () =>
        adapter.payments.cancel!(this.ctx(institution), { bankPaymentId: payment.bankPaymentId!, secrets: await this.openSecrets(payment) }),
      );
      this.journal(em, payment, AuditAction.PAYMENT_CANCELLED, `apiKey:${caller.apiKeyId}`, { status: status.status, rawStatus: status.rawStatus });
      this.change(em, payment, status, status.status === 'CANCELLED' ? 'Cancelled through the API.' : null, `apiKey:${caller.apiKeyId}`);
      await em.flush();
      return { ok: true, value: { payment, authorizationUrl: null } };
    } catch (err) {
      if (err instanceof BankCancellationAuthorisationRequired && adapter.payments.startCancellationAuthorisation) {
        return this.startCancellationAuthorisation(em, caller, payment, institution, err.startHref);
      }
      if (!isBankFailure(err)) throw err;
      this.deps.logger.warn({ paymentId: payment.id, ...bankFailureLog(err) }, 'payment cancellation at the bank failed');
      // The bank's own wording is never passed on; the typed error says enough.
      const refused = isBankError(err, BankErrorCode.INVALID_REQUEST);
      const message = !refused
        ? `${institution.name} did not answer; try again later.`
        : err instanceof BankCancellationAuthorisationRequired
          ? `${institution.name} wants the end user to authorise the cancellation, which the gateway does not offer: the payment is not cancelled.`
          : `${institution.name} refused to cancel this payment (it may already be executing).`;
      return { ok: false, userErrors: [problem(['id'], refused ? ProblemCode.NOT_CANCELLABLE : ProblemCode.BANK_ERROR, message)] };
    }
  }

  /**
   * The bank cancels only once the end user authorises it (Berlin Group 202): starts that
   * authorisation with a one-use callback state of its own (a new one replaces an unused one)
   * and answers where to send the end user. The payment is unchanged until they come back.
   */
  private async startCancellationAuthorisation(
    em: EntityManager,
    caller: Caller,
    payment: Payment,
    institution: InstitutionDescriptor,
    startHref: string | null,
  ): Promise<Outcome<PaymentLink>> {
    const actor = `apiKey:${caller.apiKeyId}`;
    const state = `${PAYMENT_STATE_PREFIX}${randomBytes(32).toString('base64url')}`;
    const port = this.deps.adapters.for(institution).payments;
    let started: Awaited<ReturnType<NonNullable<typeof port.startCancellationAuthorisation>>>;
    try {
      started = await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, actor }, async () =>
        port.startCancellationAuthorisation!(this.ctx(institution), {
          bankPaymentId: payment.bankPaymentId!,
          secrets: await this.openSecrets(payment),
          startHref,
          redirectUri: this.callbackUrl,
          state,
        }),
      );
    } catch (err) {
      if (!isBankError(err)) throw err;
      this.deps.logger.warn({ paymentId: payment.id, err: err.name, code: err.code }, 'payment cancellation authorisation could not be started at the bank');
      const refused = isBankError(err, BankErrorCode.INVALID_REQUEST);
      const message = refused
        ? `${institution.name} refused to start the cancellation’s authorisation: the payment is not cancelled.`
        : `${institution.name} did not answer; try again later.`;
      return { ok: false, userErrors: [problem(['id'], refused ? ProblemCode.NOT_CANCELLABLE : ProblemCode.BANK_ERROR, message)] };
    }
    payment.cancelStateHash = sha256(state);
    payment.cancelClaimedAt = null;
    payment.cancelAuthorizationUrl = started.authorizationUrl;
    payment.cancelSecrets = await this.deps.vault.seal(JSON.stringify(started.secrets), this.sealContext(payment, 'payment-cancel-secrets'));
    this.journal(em, payment, AuditAction.PAYMENT_CANCELLED, actor, { status: payment.status, cancellation: 'AUTHORISATION_REQUIRED' });
    await em.flush();
    return { ok: true, value: { payment, authorizationUrl: started.authorizationUrl } };
  }

  /**
   * A return from a cancellation authorisation: its state is claimed by one atomic update before
   * anything else, so of any number of (replayed, concurrent) returns exactly one finishes it at
   * the bank; the others are told how the payment stands. Null: not a cancellation's state.
   */
  private async claimCancellation(em: EntityManager, state: string, callbackUrl: string): Promise<CallbackResult | null> {
    const hash = sha256(state);
    const claimed = await em.execute<{ id: string }[]>(
      'update payment set cancel_claimed_at = now() where cancel_state_hash = ? and cancel_claimed_at is null returning id',
      [hash],
    );
    if (claimed[0]) return this.finishCancellation(em, claimed[0].id, callbackUrl);
    const spent = await em.findOne(Payment, { cancelStateHash: hash });
    return spent ? this.backFromCancellation(spent, 'pending') : null;
  }

  private async finishCancellation(em: EntityManager, id: string, callbackUrl: string): Promise<CallbackResult> {
    const payment = await em.findOneOrFail(Payment, { id }, { populate: ['tenant', 'secrets', 'cancelSecrets'] });
    const caller: Caller = { tenantId: payment.tenant.id, environment: payment.tenant.environment, apiKeyId: 'callback' };
    const institution = this.deps.institutions.get(caller, payment.institutionId);
    const port = institution && this.deps.adapters.for(institution).payments;
    if (payment.terminal || !institution || !port?.finishCancellationAuthorisation || !payment.bankPaymentId || !payment.cancelSecrets)
      return this.backFromCancellation(payment, 'pending');
    const cancellationSecrets = JSON.parse(
      await this.deps.vault.openText(payment.cancelSecrets, this.sealContext(payment, 'payment-cancel-secrets')),
    ) as Record<string, string>;
    const secrets = await this.openSecrets(payment);
    let done: Awaited<ReturnType<NonNullable<typeof port.finishCancellationAuthorisation>>>;
    try {
      done = await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, actor: 'endUser' }, () =>
        port.finishCancellationAuthorisation!(this.ctx(institution), { bankPaymentId: payment.bankPaymentId!, secrets, cancellationSecrets, callbackUrl }),
      );
    } catch (err) {
      if (!isBankError(err)) throw err;
      this.deps.logger.warn(
        { paymentId: payment.id, institutionId: institution.id, err: err.name, code: err.code },
        'payment cancellation authorisation could not be finished at the bank',
      );
      // The verdict is unknown: the status polling of an authorised payment finds out what the bank did.
      return this.backFromCancellation(payment, 'pending');
    }
    if (done.outcome === 'STATE_MISMATCH') return invalidLinkPage();
    if (done.status)
      this.change(
        em,
        payment,
        done.status,
        done.status.status === 'CANCELLED' ? 'Cancelled through the API after the end user authorised it.' : null,
        'endUser',
      );
    this.journal(em, payment, AuditAction.PAYMENT_CANCELLED, 'endUser', { status: payment.status, cancellation: done.outcome });
    await em.flush();
    return this.backFromCancellation(payment, done.outcome === 'DECLINED' ? 'declined' : 'pending');
  }

  /** Back to the developer: `cancellation=cancelled` once CANCELLED, else `declined` or `pending` (the bank has not cancelled it yet). */
  private backFromCancellation(payment: Payment, otherwise: 'declined' | 'pending'): CallbackResult {
    return redirectBack(payment.redirectUri, {
      paymentId: toGlobalId('Payment', payment.id),
      cancellation: payment.status === 'CANCELLED' ? 'cancelled' : otherwise,
    });
  }

  // --- approvals -------------------------------------------------------------------------------

  /**
   * Applies an approval outcome to a payment AWAITING_APPROVAL in the caller's unit of work:
   * AUTHORIZATION_REQUIRED once its policy is met (then `releaseApproved` sends it to the bank),
   * REJECTED_BY_APPROVER when an approver rejects it. The caller holds the payment's row lock.
   */
  applyApproval(em: EntityManager, payment: Payment, status: 'AUTHORIZATION_REQUIRED' | 'REJECTED_BY_APPROVER', reason: string | null, actor: string): void {
    if (status === 'AUTHORIZATION_REQUIRED') payment.attemptExpiresAt = new Date(Date.now() + PAYMENT_SCA_TIMEOUT_MS);
    this.change(em, payment, { status, rawStatus: null, reasonCode: null }, reason, actor);
  }

  /**
   * Sends an approved payment to the bank, under its idempotency key's lock: of a release and a
   * concurrent `paymentInitiate` retry with the same key, one calls the bank, and a bank call with
   * an unknown outcome is retried by `paymentInitiate` with the same key.
   */
  async releaseApproved(tenantId: string, paymentId: string, actor: string): Promise<PaymentOutcome> {
    const rows = await this.deps.orm.em
      .fork()
      .execute<{ key: string }[]>('select key from payment_idempotency where tenant_id = ? and payment_id = ?', [tenantId, paymentId]);
    const key = rows[0]?.key ?? `payment:${paymentId}`;
    return this.withKeyLock(tenantId, key, async () => {
      const em = this.deps.orm.em.fork();
      const payment = await em.findOneOrFail(Payment, { id: paymentId, tenant: tenantId }, { populate: ['tenant', 'sealedState', 'secrets'] });
      const institution = this.deps.institutions.get({ tenantId, environment: payment.tenant.environment, apiKeyId: 'approval' }, payment.institutionId);
      if (payment.initiation !== 'PENDING' || payment.status !== 'AUTHORIZATION_REQUIRED' || !institution) return this.answer(payment);
      return this.startAtBank(em, payment, institution, actor);
    });
  }

  // --- reads -----------------------------------------------------------------------------------

  async list(em: EntityManager, caller: Caller, status: PaymentStatus | null | undefined, limit: number, after?: KeysetPosition): Promise<Payment[]> {
    return em.find(
      Payment,
      { tenant: caller.tenantId, ...(status ? { status } : {}), ...afterPosition(after) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }

  async get(em: EntityManager, caller: Caller, id: string): Promise<Payment | null> {
    return em.findOne(Payment, { id, tenant: caller.tenantId });
  }

  // --- internals -------------------------------------------------------------------------------

  /**
   * Applies the bank's status: a change (status, raw status or reason) is stored with its
   * PAYMENT_STATUS_CHANGED event and audit line in the caller's unit of work. A final payment
   * never changes again.
   */
  private change(
    em: EntityManager,
    payment: Payment,
    s: Omit<BankPaymentStatus, 'rawStatus'> & { rawStatus: string | null },
    reason: string | null,
    actor: string,
    options: { journal?: boolean; force?: boolean } = {},
  ): boolean {
    if (payment.terminal) return false;
    const same = payment.status === s.status && payment.rawStatus === s.rawStatus && payment.reasonCode === s.reasonCode;
    if (same && !options.force) return false;
    const from = payment.status;
    Object.assign(payment, {
      status: s.status,
      rawStatus: s.rawStatus,
      reasonCode: s.reasonCode,
      terminal: TERMINAL_STATUSES.has(s.status),
      statusReason: reason ?? (same ? payment.statusReason : null),
    });
    if (options.journal !== false) {
      this.journal(em, payment, AuditAction.PAYMENT_STATUS_CHANGED, actor, { from, to: s.status, rawStatus: s.rawStatus, reasonCode: s.reasonCode });
    }
    this.deps.proofs.add(em, paymentStatusChangedProof(payment, from, actor, payment.statusReason));
    addEvents(em, [
      {
        tenantId: payment.tenant.id,
        type: EventType.PAYMENT_STATUS_CHANGED,
        resourceType: 'Payment',
        resourceId: payment.id,
        payload: {
          paymentId: toGlobalId('Payment', payment.id),
          status: payment.status,
          rawStatus: payment.rawStatus,
          reasonCode: payment.reasonCode,
          terminal: payment.terminal,
        },
      },
    ]);
    return true;
  }

  private journal(em: EntityManager, payment: Payment, action: AuditAction, actor: string, details: Record<string, string | number | boolean | null>): void {
    this.deps.audit.add(em, { tenantId: payment.tenant.id, action, actor, resourceType: 'Payment', resourceId: payment.id, details });
  }

  private async bankRequest(payment: Payment): Promise<PaymentRequest> {
    const state = await this.deps.vault.openText(payment.sealedState, this.sealContext(payment, 'payment-state'));
    return {
      scheme: payment.scheme,
      debtorAccount: payment.debtorIban ? { iban: payment.debtorIban } : null,
      creditor: { name: payment.creditorName, iban: payment.creditorIban, bic: payment.creditorBic },
      amount: { amount: payment.amount, currency: payment.currency },
      remittanceInformation: payment.remittanceInformation,
      endToEndId: payment.endToEndId,
      requestedExecutionDate: payment.requestedExecutionDate,
      redirectUri: this.callbackUrl,
      state,
      idempotencyKey: payment.gatewayIdempotencyKey,
      // Stored before the first call: a retried initiation sends the bank the identical body (STET dates it).
      createdAt: payment.createdAt,
    };
  }

  private async openSecrets(payment: Payment): Promise<Record<string, string>> {
    if (!payment.secrets) return {};
    return JSON.parse(await this.deps.vault.openText(payment.secrets, this.sealContext(payment, 'payment-secrets'))) as Record<string, string>;
  }

  private backToDeveloper(payment: Payment, outcome: 'success' | 'rejected' | 'failed'): CallbackResult {
    return redirectBack(payment.redirectUri, { paymentId: toGlobalId('Payment', payment.id), outcome });
  }

  private ctx(institution: InstitutionDescriptor): BankCallContext {
    return { institution };
  }

  private sealContext(payment: Payment, purpose: string) {
    return { tenantId: payment.tenant.id, ownerId: payment.id, purpose };
  }
}

/** The request's canonical form: the same payment however it was spelt (IBAN spaces, "12.3" vs "12.30"). */
function canonicalRequest(institutionId: string, endUserId: string, p: ValidPayment, redirectUri: string, requestedBy: string | null): string {
  const fields = [
    institutionId,
    endUserId,
    p.scheme,
    p.debtorAccount?.iban ?? null,
    p.creditor.name,
    p.creditor.iban,
    p.creditor.bic,
    p.amount.amount,
    p.amount.currency,
    p.remittanceInformation,
    p.endToEndId,
    p.requestedExecutionDate,
    redirectUri,
  ];
  // Appended only when given, so the hashes of requests without a requester stay as they were.
  return JSON.stringify(requestedBy ? [...fields, requestedBy] : fields);
}

function outcomeOf(payment: Payment): 'success' | 'rejected' | 'failed' {
  if (payment.status === 'REJECTED' || payment.status === 'CANCELLED') return 'rejected';
  if (payment.status === 'FAILED' || payment.initiation !== 'STARTED') return 'failed';
  return 'success';
}

function reused(): PaymentOutcome {
  return {
    payment: null,
    authorizationUrl: null,
    userErrors: [
      problem(
        ['idempotencyKey'],
        ProblemCode.IDEMPOTENCY_KEY_REUSED,
        'This idempotency key was used for another payment request; use a new key for a new payment.',
      ),
    ],
  };
}

function invalidLinkPage(): CallbackResult {
  return { kind: 'page', status: 400, title: 'This link is not valid', message: 'Please start again from the app that sent you.' };
}
