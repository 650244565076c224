import { LockMode, type EntityManager, type MikroORM } from '@mikro-orm/postgresql';
import type { Jobs } from '../../platform/jobs';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Caller } from '../../kernel/caller';
import { type Problem, ProblemCode, problem, zodProblems } from '../../kernel/problems';
import { afterPosition, type KeysetPosition } from '../../kernel/keyset';
import { toGlobalId } from '../../kernel/ids';
import type { AdapterRegistry } from '../../banking/adapters';
import type { AccessScope, BankTokens, CanonicalAccount, InstitutionDescriptor } from '../../banking/model';
import type { BankCallContext, ConsentAccess, ConsentCompleted } from '../../banking/ports';
import type { Logger } from '../../platform/logger';
import { bankFailureLog, isBankFailure } from '../institutions';
import type { InstitutionsService } from '../institutions';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';
import type { Outcome } from '../../kernel/problems';
import type { TenancyService } from '../tenancy';
import type { VaultService } from '../vault';
import { normaliseIp } from '../../platform/ip';
import { AuditAction, type AuditService } from '../audit';
import { Consent } from './consent.entity';
import { consentAuthorisedProof } from './consent.proofs';
import type { ProofsService } from '../proofs';
import { addEvents, EventType } from '../events';
import { ConsentEvent, ConsentStatus, nextConsentStatus, renewableConsentStatuses, usableConsentStatuses } from './consent.state';

/** Queue of the jobs that ask the bank whether a decoupled authorisation is decided yet. */
export const DECOUPLED_POLL_QUEUE = 'consent-decoupled-poll';
/** Queue of the minute tick that moves consents to EXPIRING and EXPIRED. */
export const EXPIRY_QUEUE = 'consent-expiry-tick';
const POLL_FIRST_S = 2;
const POLL_MAX_S = 30;

/** The address `sandboxConsentAuthorize` gives its simulated end user (TEST-NET-2, RFC 5737): present, like a browser's. */
export const SANDBOX_PSU_IP = '198.51.100.7';

/** How long an authorisation link (bank or hosted connect page) stays usable. */
export const CONSENT_ATTEMPT_TTL_MS = 30 * 60_000;
const DEFAULT_VALID_DAYS = 90;

const sha256 = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');
const token = () => randomBytes(32).toString('base64url');

const createInput = z.object({
  scopes: z.array(z.enum(['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'])).min(1, { message: 'BLANK:choose at least one scope' }),
  validForDays: z.number().int().min(1, { message: 'OUT_OF_RANGE:must be at least 1' }).nullish(),
  historyDays: z.number().int().min(1, { message: 'OUT_OF_RANGE:must be at least 1' }).nullish(),
  psuId: z
    .string()
    .trim()
    .min(1, { message: 'BLANK:must not be blank' })
    .max(100, { message: 'TOO_LONG:at most 100 characters' })
    .regex(/^[^\p{C}]+$/u, { message: 'INVALID:must not contain control characters' })
    .nullish(),
});

export interface ConsentCreateInput {
  endUserId: string | null;
  institutionId: string | null;
  scopes: AccessScope[];
  validForDays?: number | null;
  historyDays?: number | null;
  redirectUri: string;
  /** The end user's login at the bank; lets a bank that offers it use decoupled SCA. */
  psuId?: string | null;
}

/** Where the end user goes next, and the consent it is for. */
export interface ConsentLink {
  consent: Consent;
  authorizationUrl: string | null;
}

/** What the gateway's callback answers the end user's browser. */
export type CallbackResult = { kind: 'redirect'; location: string } | { kind: 'page'; status: number; title: string; message: string };

/** Sends the end user back to the developer's `redirectUri` with the resource's id and the outcome as query parameters. */
export function redirectBack(redirectUri: string, params: Record<string, string>): CallbackResult {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { kind: 'redirect', location: url.href };
}

/**
 * Where the accounts a bank listed at authorisation are recorded: the accounts module owns them (it
 * implements this; the composition root wires it), so consents never creates an account itself.
 */
export interface GrantedAccounts {
  /** Records the accounts the bank listed for `consent`, in the caller's unit of work (flushed with the consent). */
  recordGranted(em: EntityManager, consent: Consent, accounts: CanonicalAccount[]): Promise<void>;
}

export interface ConsentsDeps {
  orm: MikroORM;
  /** Records the accounts each authorisation grants. */
  accounts: GrantedAccounts;
  /** Durable jobs (decoupled SCA is followed by polling the bank); null: decoupled SCA is not offered. */
  jobs: Jobs | null;
  audit: AuditService;
  institutions: InstitutionsService;
  tenancy: TenancyService;
  vault: VaultService;
  adapters: AdapterRegistry;
  logger: Logger;
  /** Public URL of the gateway (callback and connect page live under it). */
  publicUrl: string;
  /** Days before a consent's end at which it turns EXPIRING. */
  expiryWarningDays?: number;
  /** Each authorisation at the bank appends its proof record in the same flush. */
  proofs: ProofsService;
}

/**
 * Consents end to end: creation (at the bank, or through the hosted connect page), the bank's
 * redirect back, renewal and revocation. Every status change goes through the state machine;
 * bank tokens only ever exist sealed by the vault.
 */
export class ConsentsService {
  private readonly activationListeners: ((consentId: string, psuIpAddress: string | null) => Promise<void>)[] = [];

  constructor(private readonly deps: ConsentsDeps) {}

  /** Called after a consent becomes ACTIVE (first authorisation or renewal), once its accounts are stored. */
  onActivated(listener: (consentId: string, psuIpAddress: string | null) => Promise<void>): void {
    this.activationListeners.push(listener);
  }

  get callbackUrl(): string {
    return `${this.deps.publicUrl}/callback`;
  }

  async create(em: EntityManager, caller: Caller, input: ConsentCreateInput): Promise<Outcome<ConsentLink>> {
    const parsed = createInput.safeParse(input);
    const errors: Problem[] = parsed.success ? [] : zodProblems(parsed.error);
    const endUser = input.endUserId ? await em.findOne(EndUser, { id: input.endUserId, tenant: caller.tenantId }) : null;
    if (!endUser) errors.push(problem(['input', 'endUserId'], ProblemCode.NOT_FOUND, 'No end user with this id.'));
    let institution: InstitutionDescriptor | undefined;
    if (input.institutionId !== null) {
      institution = input.institutionId ? this.deps.institutions.get(caller, input.institutionId) : undefined;
      if (!institution) errors.push(problem(['input', 'institutionId'], ProblemCode.NOT_FOUND, 'No institution with this id for this environment.'));
    }
    if (institution && parsed.success) errors.push(...this.checkAgainstInstitution(institution, parsed.data));
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
    if (errors.length > 0 || !endUser || !parsed.success) return { ok: false, userErrors: errors };

    const consent = em.create(Consent, {
      tenant: em.getReference(Tenant, caller.tenantId),
      endUser,
      institutionId: institution?.id ?? null,
      scopes: [...new Set(parsed.data.scopes)],
      validForDays: parsed.data.validForDays ?? Math.min(DEFAULT_VALID_DAYS, institution?.maxConsentDays ?? DEFAULT_VALID_DAYS),
      historyDays: parsed.data.historyDays ?? Math.min(DEFAULT_VALID_DAYS, institution?.maxHistoryDays ?? DEFAULT_VALID_DAYS),
      frequencyPerDay: institution?.frequencyPerDay ?? 4,
      redirectUri: new URL(input.redirectUri).href,
    });
    this.journal(em, consent, AuditAction.CONSENT_CREATED, `apiKey:${caller.apiKeyId}`, {
      institutionId: institution?.id ?? null,
      scopes: consent.scopes.join(' '),
    });
    if (!institution) {
      // The hosted connect page lets the end user pick the bank; it starts the bank flow then.
      const connectToken = token();
      consent.connectTokenHash = sha256(connectToken);
      consent.attemptExpiresAt = new Date(Date.now() + CONSENT_ATTEMPT_TTL_MS);
      await em.flush();
      return { ok: true, value: { consent, authorizationUrl: `${this.deps.publicUrl}/connect/${connectToken}` } };
    }
    await em.flush();
    const started = await this.startAtBank(em, consent, institution, `apiKey:${caller.apiKeyId}`, parsed.data.psuId ?? undefined);
    if (!started.ok) {
      // No half-made consent: the row and its data key go.
      await this.deps.vault.shred({ tenantId: caller.tenantId, ownerId: consent.id });
      await em.remove(consent).flush();
      return started;
    }
    return { ok: true, value: { consent, authorizationUrl: started.value } };
  }

  /** Starts a new authorisation with the consent's (possibly renewed) parameters; clamps to the bank. */
  async renew(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<ConsentLink>> {
    const consent = id ? await em.findOne(Consent, { id, tenant: caller.tenantId }) : null;
    if (!consent) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'No consent with this id.')] };
    const institution = consent.institutionId ? this.deps.institutions.get(caller, consent.institutionId) : undefined;
    if (!renewableConsentStatuses.has(consent.status) || !institution) {
      return {
        ok: false,
        userErrors: [
          problem(['id'], ProblemCode.INVALID_STATE, `A consent in status ${consent.status} cannot be renewed; create a new consent (consentCreate).`),
        ],
      };
    }
    consent.validForDays = Math.min(consent.validForDays, institution.maxConsentDays);
    consent.historyDays = Math.min(consent.historyDays, institution.maxHistoryDays);
    this.journal(em, consent, AuditAction.CONSENT_RENEWAL_STARTED, `apiKey:${caller.apiKeyId}`, { institutionId: institution.id });
    const started = await this.startAtBank(em, consent, institution, `apiKey:${caller.apiKeyId}`);
    return started.ok ? { ok: true, value: { consent, authorizationUrl: started.value } } : started;
  }

  /** Revokes at the bank where possible, crypto-shreds the tokens, and marks the consent REVOKED. */
  async revoke(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<Consent>> {
    const consent = id ? await em.findOne(Consent, { id, tenant: caller.tenantId }, { populate: ['tokens'] }) : null;
    if (!consent) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'No consent with this id.')] };
    if (consent.status === ConsentStatus.REVOKED) {
      return { ok: false, userErrors: [problem(['id'], ProblemCode.ALREADY_REVOKED, 'This consent is already revoked.')] };
    }
    let next: ConsentStatus;
    try {
      next = nextConsentStatus(consent.status, ConsentEvent.REVOKED);
    } catch {
      return { ok: false, userErrors: [problem(['id'], ProblemCode.INVALID_STATE, `A consent in status ${consent.status} cannot be revoked.`)] };
    }
    const institution = consent.institutionId ? this.deps.institutions.get(caller, consent.institutionId) : undefined;
    if (institution && (consent.bankConsentId || consent.tokens)) {
      try {
        const tokens = consent.tokens ? await this.openTokens(em, consent, 'revoke') : null;
        await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, consentId: consent.id, actor: `apiKey:${caller.apiKeyId}` }, () =>
          this.deps.adapters.for(institution).consents.revoke(this.ctx(institution), { bankConsentId: consent.bankConsentId, tokens }),
        );
      } catch (err) {
        // The bank may already have dropped it; the gateway's side is what protects the end user.
        this.deps.logger.warn({ consentId: consent.id, err: (err as Error).name }, 'revocation at the bank failed; revoking locally');
      }
    }
    // Shredding the data key and marking the consent REVOKED happen in one transaction, on the
    // locked row: of two concurrent revocations only the first finds it unrevoked (one event).
    const revoked = await em.transactional(async (tx) => {
      const c = await tx.findOneOrFail(Consent, consent.id, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (c.status === ConsentStatus.REVOKED) return false;
      await this.deps.vault.shred({ tenantId: caller.tenantId, ownerId: consent.id }, { em: tx });
      Object.assign(c, {
        status: next,
        tokens: null,
        attemptSecrets: null,
        attemptStateHash: null,
        connectTokenHash: null,
        statusReason: 'Revoked through the API.',
      });
      this.journal(tx, c, AuditAction.CONSENT_REVOKED, `apiKey:${caller.apiKeyId}`, {});
      this.emit(tx, c, EventType.CONSENT_REVOKED);
      return true;
    });
    if (!revoked) return { ok: false, userErrors: [problem(['id'], ProblemCode.ALREADY_REVOKED, 'This consent is already revoked.')] };
    // Committed: every instance drops the key before this returns.
    await this.deps.vault.shredCommitted();
    await em.refresh(consent);
    return { ok: true, value: consent };
  }

  /**
   * Sandbox only: completes a consent that waits for SCA (a new one, or a renewal in progress)
   * without the end user's browser. Starts a fresh redirect attempt at the bank — no psuId, so a
   * consent that waited for decoupled approval is authorised this way too and its decoupled request
   * is no longer polled — lets `walk` pass the bank's pages (it answers where the bank sent the
   * browser), and ends through the browser callback's own path: same checks, tokens, accounts,
   * events and initial sync (with no end-user IP).
   */
  async authorizeInSandbox(
    em: EntityManager,
    caller: Caller,
    id: string | null,
    walk: (authorizationUrl: string) => Promise<Outcome<string>>,
  ): Promise<Outcome<Consent>> {
    const fail = (code: ProblemCode, message: string): Outcome<Consent> => ({ ok: false, userErrors: [problem(['input', 'consentId'], code, message)] });
    const consent = id ? await em.findOne(Consent, { id, tenant: caller.tenantId }) : null;
    if (!consent) return fail(ProblemCode.NOT_FOUND, 'No consent with this id.');
    if (!consent.institutionId)
      return fail(
        ProblemCode.INVALID_STATE,
        'This consent waits for the end user to pick a bank on the hosted connect page; there is no bank authentication to complete yet.',
      );
    const institution = this.deps.institutions.get(caller, consent.institutionId);
    if (!institution?.quirks.sandbox) return fail(ProblemCode.NOT_SUPPORTED, 'This consent is not at a sandbox bank.');
    const renewalInProgress = renewableConsentStatuses.has(consent.status) && consent.attemptStateHash !== null;
    if (consent.status !== ConsentStatus.PENDING_AUTHORIZATION && !renewalInProgress) {
      return fail(
        ProblemCode.INVALID_STATE,
        `A consent in status ${consent.status} is not waiting for the bank's authentication (consentRenew starts a new one).`,
      );
    }
    // A lease taken by one statement before the bank is asked: of simultaneous calls, one authorises.
    const [leased] = await em.execute<{ id: string }[]>(
      `update consent set sca_lease_until = now() + interval '2 minutes'
         where id = ? and attempt_state_hash = ? and (sca_lease_until is null or sca_lease_until < now()) returning id`,
      [consent.id, consent.attemptStateHash],
    );
    if (!leased) return fail(ProblemCode.INVALID_STATE, 'This consent’s authentication is already being completed.');
    try {
      return await this.authorizeLeased(em, consent, institution, caller, walk, fail);
    } finally {
      await em.execute('update consent set sca_lease_until = null where id = ?', [consent.id]);
    }
  }

  private async authorizeLeased(
    em: EntityManager,
    consent: Consent,
    institution: InstitutionDescriptor,
    caller: Caller,
    walk: (authorizationUrl: string) => Promise<Outcome<string>>,
    fail: (code: ProblemCode, message: string) => Outcome<Consent>,
  ): Promise<Outcome<Consent>> {
    const started = await this.startAtBank(em, consent, institution, `apiKey:${caller.apiKeyId}`);
    if (!started.ok) return fail(ProblemCode.BANK_ERROR, `${institution.name} did not accept a new authorisation request.`);
    if (!started.value) return fail(ProblemCode.BANK_ERROR, `${institution.name} offered no authorisation page.`);
    const walked = await walk(started.value);
    if (!walked.ok) return walked;
    if (!walked.value.startsWith(`${this.callbackUrl}?`))
      return fail(ProblemCode.BANK_ERROR, `${institution.name} did not send the browser back to the gateway.`);
    // The test user approving here stands for an end user at the screen, as in the browser flow: no unattended read is spent.
    const result = await this.completeCallback(em, walked.value, SANDBOX_PSU_IP);
    if (result.kind === 'page') return fail(ProblemCode.BANK_ERROR, result.message);
    return { ok: true, value: consent };
  }

  async list(em: EntityManager, caller: Caller, status: ConsentStatus | null | undefined, limit: number, after?: KeysetPosition): Promise<Consent[]> {
    return em.find(
      Consent,
      { tenant: caller.tenantId, ...(status ? { status } : {}), ...afterPosition(after) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }

  async get(em: EntityManager, caller: Caller, id: string): Promise<Consent | null> {
    return em.findOne(Consent, { id, tenant: caller.tenantId });
  }

  // --- hosted connect page -------------------------------------------------------------------

  /** The consent behind a connect-page token, if the link is still usable. */
  async byConnectToken(em: EntityManager, connectToken: string): Promise<{ consent: Consent; caller: Caller } | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(connectToken)) return null;
    const consent = await em.findOne(Consent, { connectTokenHash: sha256(connectToken) }, { populate: ['tenant'] });
    if (!consent || consent.status !== ConsentStatus.PENDING_AUTHORIZATION || !consent.attemptExpiresAt || consent.attemptExpiresAt < new Date()) {
      return null;
    }
    return { consent, caller: { tenantId: consent.tenant.id, environment: consent.tenant.environment, apiKeyId: 'connect-page' } };
  }

  /** The end user picked a bank on the connect page: start the bank's authorisation. */
  async chooseInstitution(em: EntityManager, connectToken: string, institutionId: string): Promise<CallbackResult> {
    const found = await this.byConnectToken(em, connectToken);
    if (!found) return expiredLinkPage();
    const { consent, caller } = found;
    const institution = this.deps.institutions.get(caller, institutionId);
    const problems = institution ? this.checkAgainstInstitution(institution, consent) : [];
    if (!institution || problems.length > 0) {
      return { kind: 'page', status: 400, title: 'This bank can’t be used here', message: 'Please go back and choose another bank.' };
    }
    // The link is spent by one statement before the bank is asked: a double submit starts one authorisation.
    const [claimed] = await em.execute<{ id: string }[]>(
      `update consent set connect_token_hash = null where id = ? and connect_token_hash = ? and status = ? and attempt_expires_at > now() returning id`,
      [consent.id, sha256(connectToken), ConsentStatus.PENDING_AUTHORIZATION],
    );
    if (!claimed) return expiredLinkPage();
    consent.institutionId = institution.id;
    consent.frequencyPerDay = institution.frequencyPerDay;
    consent.connectTokenHash = null;
    const started = await this.startAtBank(em, consent, institution, 'endUser');
    if (!started.ok || !started.value) {
      return { kind: 'page', status: 502, title: 'Your bank is not answering', message: 'Please try again in a few minutes.' };
    }
    return { kind: 'redirect', location: started.value };
  }

  // --- the bank's redirect back ----------------------------------------------------------------

  /**
   * Handles `GET /callback?state=…`: finds the attempt by its state, lets the adapter finish it,
   * seals the tokens, records the accounts and sends the end user to the developer's redirect URI
   * with the outcome. A forged, replayed or expired callback gets an error page and changes nothing.
   */
  async completeCallback(em: EntityManager, callbackUrl: string, psuIpAddress: string | null = null): Promise<CallbackResult> {
    const state = new URL(callbackUrl).searchParams.get('state');
    if (!state || state.length > 200) return invalidLinkPage();
    // One use only: one statement clears the attempt and hands it to exactly one request, before
    // any bank call; a replay, even a simultaneous one, finds nothing.
    const claimed = await this.claimAttempt(em, { attempt_state_hash: sha256(state) });
    if (!claimed) return invalidLinkPage();
    const consent = await em.findOne(Consent, { id: claimed.id }, { populate: ['tenant', 'tokens'], refresh: true });
    if (!consent || !consent.institutionId) return invalidLinkPage();
    const caller: Caller = { tenantId: consent.tenant.id, environment: consent.tenant.environment, apiKeyId: 'callback' };
    const institution = this.deps.institutions.get(caller, consent.institutionId);
    const sealedSecrets = claimed.secrets;
    const expired = !claimed.expiresAt || claimed.expiresAt < new Date();
    if (!institution || !sealedSecrets) return invalidLinkPage();
    const renewing = consent.status !== ConsentStatus.PENDING_AUTHORIZATION;
    if (expired) {
      if (!renewing) {
        this.apply(consent, ConsentEvent.AUTHORISATION_ABANDONED, 'The authorisation link expired.');
        this.emit(em, consent, EventType.CONSENT_EXPIRED);
      }
      await em.flush();
      return this.backToDeveloper(consent, 'expired');
    }
    return this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, consentId: consent.id, actor: 'endUser' }, () =>
      this.finishAtBank(em, consent, institution, renewing, psuIpAddress, async () => {
        const secrets = JSON.parse(await this.deps.vault.openText(sealedSecrets, this.sealContext(consent, 'consent-attempt'))) as Record<string, string>;
        // A bank that reads during completion (STET lists the accounts) is told the end user is present.
        const ip = normaliseIp(psuIpAddress);
        return this.deps.adapters
          .for(institution)
          .consents.complete({ ...this.ctx(institution), ...(ip ? { psuIpAddress: ip } : {}) }, { callbackUrl, bankConsentId: consent.bankConsentId, secrets });
      }),
    );
  }

  /**
   * Takes the consent's current authorisation attempt for this request alone: clears it in one
   * `UPDATE … RETURNING` and answers what it held, or null when another request took it first.
   */
  private async claimAttempt(
    em: EntityManager,
    where: { attempt_state_hash: string } | { id: string; attempt_state_hash: string },
  ): Promise<{ id: string; secrets: string | null; expiresAt: Date | null } | null> {
    const cols = Object.keys(where);
    const rows = await em.execute<{ id: string; attempt_secrets: string | null; attempt_expires_at: Date | string | null }[]>(
      `update consent c set attempt_state_hash = null, attempt_secrets = null, attempt_expires_at = null
         from consent old where old.id = c.id and ${cols.map((c) => `c.${c} = ?`).join(' and ')}
         returning c.id, old.attempt_secrets, old.attempt_expires_at`,
      Object.values(where),
    );
    const row = rows[0];
    if (!row) return null;
    return { id: row.id, secrets: row.attempt_secrets, expiresAt: row.attempt_expires_at === null ? null : new Date(row.attempt_expires_at) };
  }

  /** Records the bank's verdict on an authorisation (redirect callback or decoupled poll): tokens, accounts, status. */
  private async finishAtBank(
    em: EntityManager,
    consent: Consent,
    institution: InstitutionDescriptor,
    renewing: boolean,
    psuIpAddress: string | null,
    verdict: () => Promise<ConsentCompleted>,
  ): Promise<CallbackResult> {
    try {
      const adapter = this.deps.adapters.for(institution);
      const done = await verdict();
      if (done.outcome !== 'AUTHORISED') {
        if (!renewing) {
          this.apply(consent, ConsentEvent.AUTHORISATION_REJECTED, done.reason);
          this.emit(em, consent, EventType.CONSENT_REJECTED);
        }
        this.journal(em, consent, AuditAction.CONSENT_REJECTED, 'endUser', { outcome: done.outcome, renewal: renewing });
        await em.flush();
        return this.backToDeveloper(consent, done.outcome === 'REJECTED' ? 'rejected' : 'error');
      }
      const tokens = done.tokens;
      const bankConsentId = done.bankConsentId ?? consent.bankConsentId;
      // The end user is at the screen: the bank must not count this read against the daily limit.
      const ip = normaliseIp(psuIpAddress);
      const accounts = await adapter.accounts.listAccounts({ ...this.ctx(institution), ...(ip ? { psuIpAddress: ip } : {}) }, { bankConsentId, tokens });
      const sealed = tokens ? await this.deps.vault.seal(JSON.stringify(tokens), this.sealContext(consent, 'bank-tokens')) : null;
      Object.assign(consent, {
        bankConsentId,
        tokens: sealed,
        validUntil: done.validUntil ?? new Date(Date.now() + consent.validForDays * 86_400_000),
        authorizedAt: new Date(),
      });
      this.apply(consent, renewing ? ConsentEvent.RENEWAL_AUTHORISED : ConsentEvent.AUTHORISED, null);
      this.emit(em, consent, EventType.CONSENT_ACTIVATED);
      await this.deps.accounts.recordGranted(em, consent, accounts);
      this.deps.proofs.add(em, consentAuthorisedProof(consent, institution, { renewal: renewing, accounts: accounts.length }));
      this.journal(em, consent, renewing ? AuditAction.CONSENT_RENEWED : AuditAction.CONSENT_AUTHORISED, 'endUser', {
        institutionId: institution.id,
        accounts: accounts.length,
        validUntil: consent.validUntil!.toISOString(),
      });
      await em.flush(); // one transaction: status, sealed tokens and accounts land together
      for (const listener of this.activationListeners) {
        await listener(consent.id, psuIpAddress).catch((err: Error) =>
          this.deps.logger.warn({ consentId: consent.id, err: err.name }, 'consent activation listener failed'),
        );
      }
      return this.backToDeveloper(consent, 'success');
    } catch (err) {
      // The end user is on the callback page: any failure ends this attempt, but only a bank failure is logged as the bank's.
      if (isBankFailure(err))
        this.deps.logger.warn({ consentId: consent.id, ...bankFailureLog(err), institutionId: institution.id }, 'consent callback failed at the bank');
      else this.deps.logger.error({ consentId: consent.id, institutionId: institution.id, err }, 'consent callback failed');
      if (!renewing) {
        this.apply(consent, ConsentEvent.AUTHORISATION_REJECTED, 'The bank’s answer could not be completed.');
        this.emit(em, consent, EventType.CONSENT_REJECTED);
      }
      this.journal(em, consent, AuditAction.CONSENT_REJECTED, 'endUser', { outcome: 'ERROR', renewal: renewing });
      await em.flush();
      return this.backToDeveloper(consent, 'error');
    }
  }

  // --- decoupled SCA ---------------------------------------------------------------------------

  /** Declares the decoupled-SCA polling and expiry queues and, with `work`, runs them in this process. */
  async start(options: { work: boolean }): Promise<void> {
    const jobs = this.deps.jobs;
    if (!jobs) return;
    await jobs.define(DECOUPLED_POLL_QUEUE, { retryLimit: 5, retryDelay: 5, retryBackoff: true, expireInSeconds: 120 });
    await jobs.define(EXPIRY_QUEUE, { retryLimit: 0, expireInSeconds: 120 });
    if (options.work) {
      await jobs.work(EXPIRY_QUEUE, { concurrency: 1, pollingIntervalSeconds: 5 }, async () => {
        await this.checkExpiry();
      });
      await jobs.schedule(EXPIRY_QUEUE, '* * * * *');
      await jobs.work<{ consentId: string; attempt: number }>(DECOUPLED_POLL_QUEUE, { concurrency: 2, pollingIntervalSeconds: 1 }, async (job) => {
        await this.pollDecoupled(job.data.consentId, job.data.attempt);
      });
    }
  }

  /**
   * One look at a decoupled authorisation: still pending → look again later (backing off to 30 s);
   * decided → the same ending as a redirect callback; past the attempt's lifetime → abandoned.
   */
  async pollDecoupled(consentId: string, attempt: number): Promise<'PENDING' | 'DONE' | 'GONE'> {
    const em = this.deps.orm.em.fork();
    const consent = await em.findOne(Consent, { id: consentId }, { populate: ['tenant', 'attemptSecrets', 'tokens'] });
    if (!consent || !consent.attemptSecrets || !consent.institutionId || consent.scaApproach !== 'DECOUPLED') return 'GONE';
    const caller: Caller = { tenantId: consent.tenant.id, environment: consent.tenant.environment, apiKeyId: 'decoupled' };
    const institution = this.deps.institutions.get(caller, consent.institutionId);
    const adapter = institution && this.deps.adapters.for(institution);
    const renewing = consent.status !== ConsentStatus.PENDING_AUTHORIZATION;
    const sealed = consent.attemptSecrets;
    // A decided attempt is taken by one statement, so a duplicate job (or a sandbox authorisation racing it) ends it once.
    const claim = async () => {
      const claimed = consent.attemptStateHash ? await this.claimAttempt(em, { id: consent.id, attempt_state_hash: consent.attemptStateHash }) : null;
      if (claimed) Object.assign(consent, { attemptStateHash: null, attemptSecrets: null, attemptExpiresAt: null });
      return claimed !== null;
    };
    if (!institution || !adapter?.consents.poll || !consent.attemptExpiresAt || consent.attemptExpiresAt < new Date()) {
      if (!(await claim())) return 'GONE';
      if (!renewing) {
        this.apply(consent, ConsentEvent.AUTHORISATION_ABANDONED, 'The end user did not approve in time.');
        this.emit(em, consent, EventType.CONSENT_EXPIRED);
      }
      await em.flush();
      return 'GONE';
    }
    const secrets = JSON.parse(await this.deps.vault.openText(sealed, this.sealContext(consent, 'consent-attempt'))) as Record<string, string>;
    const bankConsentId = consent.bankConsentId!;
    const result = await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, consentId: consent.id, actor: 'decoupled' }, () =>
      adapter.consents.poll!(this.ctx(institution), { bankConsentId, secrets }),
    );
    if (result.outcome === 'PENDING') {
      const delay = Math.min(POLL_MAX_S, Math.round(POLL_FIRST_S * 1.5 ** (attempt + 1)));
      await this.deps.jobs!.send(DECOUPLED_POLL_QUEUE, { consentId, attempt: attempt + 1 }, { startAfter: delay });
      return 'PENDING';
    }
    if (!(await claim())) return 'GONE';
    await this.deps.audit.withBankCallScope({ tenantId: caller.tenantId, consentId: consent.id, actor: 'endUser' }, () =>
      this.finishAtBank(em, consent, institution, renewing, null, async () => result),
    );
    return 'DONE';
  }

  // --- validity ----------------------------------------------------------------------------------

  /**
   * Every minute (one process): consents within the warning lead time of their end turn EXPIRING,
   * consents past it EXPIRED — each with its event, so nobody learns of an expiry from a failed read.
   */
  async checkExpiry(now = new Date()): Promise<{ expiring: number; expired: number }> {
    const em = this.deps.orm.em.fork();
    const lead = new Date(now.getTime() + (this.deps.expiryWarningDays ?? 7) * 86_400_000);
    const due = await em.find(
      Consent,
      {
        $or: [
          { status: ConsentStatus.ACTIVE, validUntil: { $lte: lead } },
          { status: { $in: [ConsentStatus.EXPIRING, ConsentStatus.REAUTH_REQUIRED] }, validUntil: { $lte: now } },
        ],
      },
      { populate: ['tenant'], limit: 500 },
    );
    let expiring = 0;
    let expired = 0;
    for (const consent of due) {
      if (consent.validUntil! <= now) {
        this.apply(consent, ConsentEvent.VALIDITY_ENDED, 'Its validity ended; renew it to read data again.');
        this.emit(em, consent, EventType.CONSENT_EXPIRED);
        expired++;
      } else {
        this.apply(consent, ConsentEvent.EXPIRY_APPROACHING, `It ends on ${consent.validUntil!.toISOString().slice(0, 10)}; renew it before then.`);
        this.emit(em, consent, EventType.CONSENT_EXPIRING);
        expiring++;
      }
    }
    await em.flush();
    return { expiring, expired };
  }

  // --- data access for other modules ------------------------------------------------------------

  /**
   * What a data call needs for a consent: the institution and the bank credentials, with the
   * access token refreshed (and sealed again) when it is about to expire. Null when the consent
   * may not be used for data.
   */
  async dataAccess(
    em: EntityManager,
    consentId: string,
    options: { forceRefresh?: boolean } = {},
  ): Promise<{ consent: Consent; institution: InstitutionDescriptor; access: ConsentAccess } | null> {
    const consent = await em.findOne(Consent, { id: consentId }, { populate: ['tenant', 'tokens'], refresh: true });
    if (!consent || !usableConsentStatuses.has(consent.status) || !consent.institutionId) return null;
    const institution = this.deps.institutions.get(
      { tenantId: consent.tenant.id, environment: consent.tenant.environment, apiKeyId: 'sync' },
      consent.institutionId,
    );
    if (!institution) return null;
    let tokens = await this.openTokens(em, consent, 'sync');
    const stale = tokens?.expiresAt && tokens.expiresAt.getTime() < Date.now() + 60_000;
    if (tokens?.refreshToken && (stale || options.forceRefresh)) {
      tokens = await this.deps.adapters.for(institution).consents.refresh(this.ctx(institution), tokens);
      consent.tokens = await this.deps.vault.seal(JSON.stringify(tokens), this.sealContext(consent, 'bank-tokens'));
      await em.flush();
    }
    return { consent, institution, access: { bankConsentId: consent.bankConsentId, tokens } };
  }

  /**
   * The bank said the consent no longer works: EXPIRED when its validity has ended, otherwise
   * REAUTH_REQUIRED (the end user must authenticate again). Never silent: the status says why.
   *
   * `refusedAuthorisation` is the `authorizedAt` of the access the bank refused. When the end user
   * has authorised the consent again since (a renewal), the refusal is about tokens the consent no
   * longer holds: the consent is left as it is, and its status is returned.
   */
  async reportBankRefusal(em: EntityManager, consentId: string, reason: string, refusedAuthorisation: Date | null): Promise<ConsentStatus | null> {
    // Read and changed under the row's lock: a revocation or renewal committed meanwhile is seen, never overwritten.
    return em.transactional(async (tx) => {
      const consent = await tx.findOne(Consent, { id: consentId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!consent || !usableConsentStatuses.has(consent.status)) return consent?.status ?? null;
      if (consent.authorizedAt?.getTime() !== refusedAuthorisation?.getTime()) return consent.status;
      const ended = consent.validUntil !== null && consent.validUntil.getTime() <= Date.now();
      this.apply(consent, ended ? ConsentEvent.VALIDITY_ENDED : ConsentEvent.BANK_REPORTED_INVALID, reason);
      this.journal(tx, consent, AuditAction.CONSENT_REAUTH_REQUIRED, 'bank', { status: consent.status });
      this.emit(tx, consent, ended ? EventType.CONSENT_EXPIRED : EventType.CONSENT_REAUTH_REQUIRED);
      return consent.status;
    });
  }

  // --- internals --------------------------------------------------------------------------------

  private checkAgainstInstitution(
    institution: InstitutionDescriptor,
    input: { scopes: AccessScope[]; validForDays?: number | null; historyDays?: number | null },
  ): Problem[] {
    const errors: Problem[] = [];
    const unsupported = input.scopes.filter((s) => !institution.scopes.includes(s));
    if (unsupported.length) {
      errors.push(problem(['input', 'scopes'], ProblemCode.NOT_SUPPORTED, `${institution.name} does not offer ${unsupported.join(', ')}.`));
    }
    if (input.validForDays != null && input.validForDays > institution.maxConsentDays) {
      errors.push(
        problem(['input', 'validForDays'], ProblemCode.OUT_OF_RANGE, `${institution.name} grants consents for at most ${institution.maxConsentDays} days.`),
      );
    }
    if (input.historyDays != null && input.historyDays > institution.maxHistoryDays) {
      errors.push(
        problem(['input', 'historyDays'], ProblemCode.OUT_OF_RANGE, `${institution.name} serves at most ${institution.maxHistoryDays} days of history.`),
      );
    }
    return errors;
  }

  /** Asks the bank for a new authorisation and records the attempt; the URL to send the end user to. */
  private async startAtBank(
    em: EntityManager,
    consent: Consent,
    institution: InstitutionDescriptor,
    actor: string,
    psuId?: string,
  ): Promise<Outcome<string | null>> {
    const state = token();
    try {
      const started = await this.deps.audit.withBankCallScope({ tenantId: consent.tenant.id, consentId: consent.id, actor }, () =>
        this.deps.adapters.for(institution).consents.start(this.ctx(institution), {
          scopes: consent.scopes,
          validUntil: new Date(Date.now() + consent.validForDays * 86_400_000),
          frequencyPerDay: consent.frequencyPerDay,
          redirectUri: this.callbackUrl,
          state,
          ...(psuId && this.deps.jobs ? { psuId } : {}),
        }),
      );
      consent.bankConsentId = started.bankConsentId ?? consent.bankConsentId;
      consent.scaApproach = started.approach;
      consent.attemptStateHash = sha256(state);
      consent.attemptExpiresAt = new Date(Date.now() + CONSENT_ATTEMPT_TTL_MS);
      consent.attemptSecrets = await this.deps.vault.seal(JSON.stringify(started.secrets), this.sealContext(consent, 'consent-attempt'));
      await em.flush();
      if (started.approach === 'DECOUPLED') {
        // No redirect will come back: the gateway asks the bank until the end user has decided.
        await this.deps.jobs!.send(DECOUPLED_POLL_QUEUE, { consentId: consent.id, attempt: 0 }, { startAfter: POLL_FIRST_S });
      }
      return { ok: true, value: started.authorizationUrl };
    } catch (err) {
      // Only the bank's failures are the bank's: a vault, database or queue fault reaches the formatter (masked, logged whole).
      if (!isBankFailure(err)) throw err;
      this.deps.logger.warn({ ...bankFailureLog(err), institutionId: institution.id }, 'consent start at the bank failed');
      return {
        ok: false,
        userErrors: [
          problem(
            ['input', 'institutionId'],
            ProblemCode.BANK_ERROR,
            `${institution.name} did not accept the consent request; nothing was kept. Try again later.`,
          ),
        ],
      };
    }
  }

  private journal(em: EntityManager, consent: Consent, action: AuditAction, actor: string, details: Record<string, string | number | boolean | null>): void {
    this.deps.audit.add(em, { tenantId: consent.tenant.id, action, actor, resourceType: 'Consent', resourceId: consent.id, details });
  }

  private apply(consent: Consent, event: ConsentEvent, reason: string | null): void {
    consent.status = nextConsentStatus(consent.status, event);
    consent.statusReason = reason;
  }

  /** Adds the consent's event to the same unit of work as its change (the outbox). */
  private emit(em: EntityManager, consent: Consent, type: EventType): void {
    addEvents(em, [
      {
        tenantId: consent.tenant.id,
        type,
        resourceType: 'Consent',
        resourceId: consent.id,
        payload: {
          consentId: toGlobalId('Consent', consent.id),
          status: consent.status,
          reason: consent.statusReason,
          validUntil: consent.validUntil?.toISOString() ?? null,
        },
      },
    ]);
  }

  private backToDeveloper(consent: Consent, outcome: 'success' | 'rejected' | 'error' | 'expired'): CallbackResult {
    const id = toGlobalId('Consent', consent.id);
    // consentId matches the payment return's paymentId; consent_id stays for apps written against it.
    return redirectBack(consent.redirectUri, { consentId: id, consent_id: id, outcome });
  }

  private ctx(institution: InstitutionDescriptor): BankCallContext {
    return { institution };
  }

  private sealContext(consent: Consent, purpose: string) {
    return { tenantId: consent.tenant.id, ownerId: consent.id, purpose };
  }

  /** Opens a consent's sealed bank tokens; every use is journaled (who, what for), never the tokens. */
  private async openTokens(em: EntityManager, consent: Consent, purpose: 'sync' | 'revoke'): Promise<BankTokens | null> {
    if (!consent.tokens) return null;
    this.journal(em, consent, AuditAction.BANK_TOKENS_USED, purpose === 'sync' ? 'sync' : 'apiKey', { purpose });
    await em.flush();
    const raw = JSON.parse(await this.deps.vault.openText(consent.tokens, this.sealContext(consent, 'bank-tokens'))) as {
      accessToken: string;
      refreshToken: string | null;
      expiresAt: string | null;
    };
    return { ...raw, expiresAt: raw.expiresAt ? new Date(raw.expiresAt) : null };
  }
}

function invalidLinkPage(): CallbackResult {
  return {
    kind: 'page',
    status: 400,
    title: 'This link is not valid',
    message: 'It may have been used already. Please start again from the app that sent you.',
  };
}

function expiredLinkPage(): CallbackResult {
  return { kind: 'page', status: 410, title: 'This link has expired', message: 'Please start again from the app that sent you.' };
}
