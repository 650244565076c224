import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type Provider from 'oidc-provider';
import { addDays, BankClock } from './clock';
import { BankError, type Dialect } from './errors';
import { buildLedger, buildLedgerAsync, type Ledger, type LedgerAccount } from './ledger';
import { createProvider } from './oidc';
import { bankIdentity } from './identity';
import type { BankContext, BankDefinition, SandboxBankInfo, SandboxClientCredentials } from './bank-types';

// Pure (no OAuth server, no validator): a sandbox lists its banks without loading what builds them.
export { bankIdentity } from './identity';
import { MemoryStore } from './oidc-store';
import { Prng } from './prng';
import type { AisConsent, FaultRule, GrantLink, Payment, PaymentStatus } from './state';
import { routeMatches } from './route-pattern';
import { scaRouter, sweepScaSessions, type ScaSession, type ScaTarget } from './sca';

/** Standard-specific decisions the shared OAuth and SCA code asks the bank for. */
export interface BankHooks {
  /** What an OAuth authorisation request approves (BG `scope=AIS:<id>`, UK `openbanking_intent_id`…). */
  resolveOidcTarget(params: Record<string, unknown>): ScaTarget;
  /** Creates the consent an approval without a prior consent stands for (STET AISP); returns its id. */
  implicitConsent(userId: string, clientId?: string): string;
  /** Whether an authorised payment starts executing at once (BG) or waits for the TPP (UK, STET). */
  executeOnAuthorisation: boolean;
}

export type { BankContext, BankDefinition, BankStandard, SandboxBankInfo, SandboxClientCredentials } from './bank-types';

/** Magic payment values (documented in sandbox/README.md). */
export const MAGIC = {
  /** This exact amount is rejected at authorisation with AM04 (insufficient funds). */
  rejectAmountCents: 66_600,
  /** A creditor name containing this word is accepted, then rejected at settlement (AC04, closed account). */
  rejectCreditorWord: 'reject',
  /** Berlin Group: a payment whose creditor name contains this is cancelled only after the PSU authorises the cancellation (DELETE → 202). */
  cancelScaCreditorWord: 'cancel-sca',
} as const;

/** What a payment creation answered (kept to answer a repeated request the same way). */
export interface CreationAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface HeldResponse {
  res: Response;
  timer: NodeJS.Timeout;
}

interface Usage {
  day: string;
  floor: number;
  counts: Map<string, number>;
}

/**
 * One sandbox bank: its clock, seeded ledger, consents, payments, OAuth server, faults and quota.
 * Standards add their routes through `api`; the SCA pages and OAuth server are shared code.
 */
export class Bank {
  readonly info: SandboxBankInfo;
  readonly client: SandboxClientCredentials;
  readonly basePath: string;
  readonly baseUrl: string;
  readonly clock: BankClock;
  readonly provider: Provider;
  readonly log: Logger;
  /** Router of the bank's resource API (mounted at `${basePath}/api`). */
  readonly api: Router = express.Router();
  /**
   * Routes a standard adds beside its API, at the bank's root: published keys (UK JWKS), report
   * files behind download links. Not operations of the official file, so not under `/api`.
   */
  readonly published: Router = express.Router();
  dialect!: Dialect;
  hooks: BankHooks = {
    resolveOidcTarget: () => ({ implicitAis: true }),
    implicitConsent: () => {
      throw new BankError('CONSENT_UNKNOWN', 'This bank needs a consent before authorisation.');
    },
    executeOnAuthorisation: true,
  };

  ledger!: Ledger;
  consents = new Map<string, AisConsent>();
  payments = new Map<string, Payment>();
  /**
   * Payment creations by the TPP's request id (BG and STET `X-Request-ID`): the same id with the
   * same body answers what the first call answered (no second payment); another body is refused.
   */
  paymentCreations = new Map<string, { hash: string; answer: CreationAnswer }>();
  grantLinks = new Map<string, GrantLink>();
  scaSessions = new Map<string, ScaSession>();
  faults: FaultRule[] = [];
  /** Seconds from execution start to ACTC and to ACSC; the control API may change it. */
  paymentSchedule = { acceptAfterSeconds: 0, settleAfterSeconds: 60 };
  /**
   * How a Berlin Group bank serves transaction reports: `list` (paged JSON), or only as a download
   * behind `_links.download` — of the JSON report (`download`) or of a camt.052 file (`camt`).
   */
  transactionReports: 'list' | 'download' | 'camt' = 'list';
  /** username → { day, failures } for the three-wrong-codes lock. */
  lockouts = new Map<string, { day: string; failures: number }>();
  private usage = new Map<string, Usage>();
  private readonly oauthStore = new MemoryStore();
  private ids!: Prng;
  private held = new Set<HeldResponse>();
  private faultSeq = 0;

  /** @param ledger the seeded ledger, when built ahead (buildLedgerAsync); built here otherwise. */
  constructor(
    readonly def: BankDefinition,
    readonly ctx: BankContext,
    ledger?: Ledger,
  ) {
    this.basePath = `${ctx.mountPath}/banks/${def.id}`;
    this.baseUrl = `${ctx.publicUrl}${this.basePath}`;
    this.log = ctx.logger.child({ bank: def.id });
    this.clock = new BankClock(ctx.startMs, ctx.clockOrigin);
    ({ info: this.info, client: this.client } = bankIdentity(def, ctx));
    this.provider = createProvider(this, this.oauthStore);
    this.reset(ledger);
  }

  /** The day the seeded history ends. */
  get seedDay(): string {
    return new Date(this.ctx.startMs).toISOString().slice(0, 10);
  }

  /** Back to the seeded state: ledger, consents, payments, faults, quotas, lockouts and clock. */
  reset(ledger?: Ledger): void {
    this.clock.reset();
    this.paymentSchedule = { ...this.def.paymentSchedule };
    this.transactionReports = 'list';
    this.ledger = ledger ?? buildLedger(this.def, this.ctx.seed, this.seedDay);
    this.consents.clear();
    this.payments.clear();
    this.paymentCreations.clear();
    this.grantLinks.clear();
    this.oauthStore.clear();
    this.scaSessions.clear();
    this.faults = [];
    this.lockouts.clear();
    this.usage.clear();
    this.ids = Prng.from(this.ctx.seed, `${this.def.id}/ids`);
  }

  /** reset(), the seeded ledger built a little at a time first (the bank keeps serving its old state meanwhile). */
  async resetAsync(): Promise<void> {
    this.reset(await buildLedgerAsync(this.def, this.ctx.seed, this.seedDay));
  }

  /** A fresh resource id (deterministic for a given seed and call order). */
  newId(): string {
    return this.ids.uuid();
  }

  // ----- accounts -------------------------------------------------------------------------

  accountsOf(userId: string): LedgerAccount[] {
    return this.ledger.accounts.filter((a) => a.owner === userId);
  }

  findAccount(id: string): LedgerAccount | undefined {
    return this.ledger.accounts.find((a) => a.id === id);
  }

  /** Accounts a consent covers for a service (`accounts`, `balances`, `transactions`). */
  consentAccounts(consent: AisConsent, service: 'accounts' | 'balances' | 'transactions'): LedgerAccount[] {
    if (!consent.userId) return [];
    const all = this.accountsOf(consent.userId);
    const { listOnly } = consent.access;
    if (listOnly) return service === 'accounts' || (service === 'balances' && listOnly === 'withBalance') ? all : [];
    const list = consent.access[service];
    if (!list) return all;
    // Access to balances or transactions implies access to the account itself.
    if (service === 'accounts') {
      const wanted = new Set([...(consent.access.accounts ?? []), ...(consent.access.balances ?? []), ...(consent.access.transactions ?? [])]);
      return all.filter((a) => wanted.has(a.iban) || wanted.has(a.id) || (!!a.maskedPan && wanted.has(a.maskedPan)));
    }
    return all.filter((a) => list.includes(a.iban) || list.includes(a.id) || (!!a.maskedPan && list.includes(a.maskedPan)));
  }

  // ----- consents -------------------------------------------------------------------------

  /** Marks consents whose validity ended on the bank clock as expired. */
  refreshConsent(consent: AisConsent): AisConsent {
    if ((consent.status === 'valid' || consent.status === 'received') && this.clock.today() > consent.validUntil) {
      consent.status = 'expired';
      consent.statusUpdatedAtMs = this.clock.nowMs();
    }
    return consent;
  }

  /** Clamps a requested validUntil to the bank's maximum (from today on the bank clock). */
  clampValidUntil(requested?: string): string {
    const max = addDays(this.clock.today(), this.def.maxConsentDays);
    if (!requested || requested === '9999-12-31' || requested > max) return max;
    return requested;
  }

  /** Throws the standard's error unless the consent may be used for data access. */
  requireUsableConsent(consent: AisConsent | undefined): AisConsent {
    if (!consent) throw new BankError('CONSENT_UNKNOWN', 'The consent is unknown to this bank.');
    this.refreshConsent(consent);
    switch (consent.status) {
      case 'valid':
        return consent;
      case 'expired':
        throw new BankError('CONSENT_EXPIRED', `The consent expired on ${consent.validUntil}.`);
      case 'received':
        throw new BankError('CONSENT_INVALID', 'The consent has not been authorised by the PSU.');
      default:
        throw new BankError('CONSENT_INVALID', `The consent is ${consent.status}.`);
    }
  }

  // ----- quota ----------------------------------------------------------------------------

  /**
   * Counts an unattended read (no PSU IP address) against frequencyPerDay, per consent, account
   * and service, on the bank's calendar day. Throws ACCESS_EXCEEDED past the limit.
   */
  countAccess(consent: AisConsent, key: string, psuPresent: boolean): void {
    if (psuPresent) return;
    const today = this.clock.today();
    let u = this.usage.get(consent.id);
    if (!u || u.day !== today) {
      u = { day: today, floor: 0, counts: new Map() };
      this.usage.set(consent.id, u);
    }
    const used = Math.max(u.floor, u.counts.get(key) ?? 0);
    if (used >= consent.frequencyPerDay) {
      throw new BankError('ACCESS_EXCEEDED', `The daily access limit of ${consent.frequencyPerDay} unattended calls is exceeded.`, 429, {
        retryAfterSeconds: this.clock.secondsUntilTomorrow(),
      });
    }
    u.counts.set(key, used + 1);
  }

  /** Control API: sets today's unattended-access counter of a consent (for every account and service). */
  setUsage(consentId: string, used: number): void {
    this.usage.set(consentId, { day: this.clock.today(), floor: used, counts: new Map() });
  }

  usageOf(consentId: string): { day: string; floor: number; counts: Record<string, number> } | undefined {
    const u = this.usage.get(consentId);
    return u && { day: u.day, floor: u.floor, counts: Object.fromEntries(u.counts) };
  }

  // ----- payments -------------------------------------------------------------------------

  /** Status of a payment now, on the bank clock (RCVD → ACTC → ACSC, or RJCT/CANC). */
  paymentStatus(p: Payment): PaymentStatus {
    if (p.cancelledAtMs !== undefined) return 'CANC';
    if (p.rejected && p.rejected.atMs <= this.clock.nowMs()) return 'RJCT';
    if (p.executionStartedAtMs === undefined) return p.authorisedAtMs !== undefined ? 'ACTC' : 'RCVD';
    const elapsed = (this.clock.nowMs() - p.executionStartedAtMs) / 1000;
    // Future-dated and accepted: waits in ACTC until its execution date.
    if (elapsed < 0) return 'ACTC';
    const { acceptAfterSeconds, settleAfterSeconds } = this.paymentSchedule;
    if (elapsed >= settleAfterSeconds) {
      if (p.failsAtSettlement) {
        p.rejected = { atMs: p.executionStartedAtMs + settleAfterSeconds * 1000, reason: p.failsAtSettlement };
        return 'RJCT';
      }
      return 'ACSC';
    }
    if (elapsed >= acceptAfterSeconds) return 'ACTC';
    return 'RCVD';
  }

  /**
   * Creates a payment once per request id: `create` runs for a new (scope, request id); a repeat
   * with the same body gets the first answer back; a repeat with another body is a
   * DUPLICATE_REQUEST error. `scope` separates clients and products.
   */
  createPaymentOnce(scope: string, requestId: string, body: unknown, create: () => CreationAnswer): CreationAnswer {
    const key = `${scope}|${requestId}`;
    const hash = createHash('sha256')
      .update(JSON.stringify(body ?? null))
      .digest('hex');
    const seen = this.paymentCreations.get(key);
    if (seen) {
      if (seen.hash !== hash)
        throw new BankError('DUPLICATE_REQUEST', 'This X-Request-ID was already used for another payment.', 400, { path: 'X-Request-ID' });
      return seen.answer;
    }
    const answer = create();
    this.paymentCreations.set(key, { hash, answer });
    return answer;
  }

  /** Applies the magic values when a payment is authorised (and starts execution unless told not to). */
  authorisePayment(p: Payment, userId: string, startExecution = true): void {
    p.userId = userId;
    p.authorisedAtMs = this.clock.nowMs();
    if (p.amountCents === MAGIC.rejectAmountCents) {
      p.rejected = { atMs: this.clock.nowMs(), reason: 'AM04' };
      return;
    }
    if (p.creditorName.toLowerCase().includes(MAGIC.rejectCreditorWord)) p.failsAtSettlement = 'AC04';
    if (startExecution) this.startExecution(p);
  }

  /** Starts execution now, or on the requested execution date when that is later. */
  startExecution(p: Payment): void {
    const requested = p.requestedExecutionDate ? Date.parse(`${p.requestedExecutionDate}T00:00:00Z`) : Number.NaN;
    p.executionStartedAtMs = Number.isFinite(requested) ? Math.max(this.clock.nowMs(), requested) : this.clock.nowMs();
  }

  // ----- tokens ---------------------------------------------------------------------------

  /**
   * Checks the `Authorization: Bearer` header against the bank's OAuth server. Token lifetimes run
   * on the bank clock, so moving the clock forward expires tokens.
   */
  async bearer(
    req: Request,
  ): Promise<
    { kind: 'user'; clientId: string; grantId: string; link?: GrantLink; scope: string } | { kind: 'client'; clientId: string; scope: string } | undefined
  > {
    const header = req.get('authorization');
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new BankError('TOKEN_INVALID', 'The Authorization header is not a Bearer token.');
    const value = m[1];
    const expired = (t: { iat?: number; exp?: number; extra?: Record<string, unknown> }) => {
      const ttl = (t.exp ?? 0) - (t.iat ?? 0);
      const issued = typeof t.extra?.bank_iat === 'number' ? t.extra.bank_iat : (t.iat ?? 0);
      return this.clock.nowSeconds() >= issued + ttl;
    };
    const at = await this.provider.AccessToken.find(value, { ignoreExpiration: true });
    if (at) {
      if (expired(at)) throw new BankError('TOKEN_EXPIRED', 'The access token has expired.');
      return { kind: 'user', clientId: at.clientId!, grantId: at.grantId!, link: this.grantLinks.get(at.grantId!), scope: at.scope ?? '' };
    }
    const cc = await this.provider.ClientCredentials.find(value, { ignoreExpiration: true });
    if (cc) {
      if (expired(cc)) throw new BankError('TOKEN_EXPIRED', 'The access token has expired.');
      return { kind: 'client', clientId: cc.clientId!, scope: cc.scope ?? '' };
    }
    throw new BankError('TOKEN_INVALID', 'The access token is unknown to this bank.');
  }

  // ----- faults ---------------------------------------------------------------------------

  addFault(rule: Omit<FaultRule, 'id'>): FaultRule {
    this.faultSeq += 1;
    const full = { ...rule, id: `fault-${this.faultSeq}` };
    this.faults.push(full);
    return full;
  }

  /** Finds (and consumes one use of) the first fault of a kind matching this request. */
  takeFault(req: Request, kinds: FaultRule['kind'][]): FaultRule | undefined {
    const rule = this.faults.find((f) => kinds.includes(f.kind) && this.matches(f, req));
    if (!rule) return undefined;
    if (rule.remaining !== undefined) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.faults = this.faults.filter((f) => f !== rule);
    }
    return rule;
  }

  private matches(rule: FaultRule, req: Request): boolean {
    if (rule.method && rule.method.toUpperCase() !== req.method) return false;
    if (!rule.route) return true;
    return routeMatches(rule.route, req.path);
  }

  /** Express middleware applying transport faults (status, 429, latency, timeout, malformed JSON). */
  faultMiddleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const latency = this.takeFault(req, ['latency']);
      const go = () => {
        const fault = this.takeFault(req, ['status', 'rate-limit', 'timeout', 'malformed-json']);
        if (!fault) return next();
        this.log.info({ fault: fault.kind, path: req.path }, 'injecting fault');
        switch (fault.kind) {
          case 'status': {
            const status = fault.status ?? 500;
            return this.dialect.sendError(req, res, status, status === 503 ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_SERVER_ERROR', 'Injected fault.', {
              retryAfterSeconds: fault.retryAfterSeconds,
            });
          }
          case 'rate-limit':
            return this.dialect.sendError(req, res, 429, 'RATE_LIMITED', 'Too many requests (injected).', {
              retryAfterSeconds: fault.retryAfterSeconds ?? 1,
            });
          case 'timeout': {
            const held: HeldResponse = {
              res,
              timer: setTimeout(() => {
                this.held.delete(held);
                res.socket?.destroy();
              }, fault.latencyMs ?? 120_000),
            };
            this.held.add(held);
            res.on('close', () => {
              clearTimeout(held.timer);
              this.held.delete(held);
            });
            return;
          }
          case 'malformed-json': {
            // Cut the JSON body in half, as a proxy that dropped the connection would.
            res.json = (body: unknown) => {
              const text = JSON.stringify(body);
              res.type(res.get('content-type') ?? 'application/json');
              return res.send(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
            };
            return next();
          }
          default:
            return next();
        }
      };
      if (latency) setTimeout(go, latency.latencyMs ?? 1000);
      else go();
    };
  }

  /** The bank's whole HTTP surface: OAuth server, SCA pages and resource API. */
  router(): Router {
    const router = express.Router();
    router.use('/oauth', this.provider.callback());
    router.use('/sca', scaRouter(this));
    router.use(this.published);
    const api = express.Router();
    // One debug line per API call (never headers or bodies: tokens and PSU data stay out of logs).
    api.use((req: Request, res: Response, next: NextFunction) => {
      const started = Date.now();
      res.on('finish', () => this.log.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Date.now() - started }, 'bank api call'));
      next();
    });
    api.use(this.faultMiddleware());
    api.use((_req: Request, _res: Response, next: NextFunction) => {
      sweepScaSessions(this);
      next();
    });
    // The exact bytes stay with the request: UK message signatures are over them, not over parsed JSON.
    api.use(
      express.json({
        type: ['application/json', 'application/*+json'],
        verify: (req, _res, buf) => void ((req as Request & { rawBody?: Buffer }).rawBody = buf),
      }),
    );
    api.use(this.api);
    api.use((req: Request, res: Response) => this.dialect.sendError(req, res, 404, 'RESOURCE_UNKNOWN', `No such endpoint: ${req.method} ${req.path}`));
    api.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) return;
      if (err instanceof BankError) return this.dialect.sendError(req, res, err.status, err.code, err.message, err.detail);
      const status = (err as { status?: number }).status;
      if (status && status >= 400 && status < 500) return this.dialect.sendError(req, res, 400, 'FORMAT_ERROR', 'The request body is not valid JSON.');
      this.log.error({ err }, 'sandbox bank error');
      return this.dialect.sendError(req, res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error in the sandbox bank.');
    });
    router.use('/api', api);
    return router;
  }

  async close(): Promise<void> {
    for (const h of this.held) {
      clearTimeout(h.timer);
      h.res.socket?.destroy();
    }
    this.held.clear();
  }
}
