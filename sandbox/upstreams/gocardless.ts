/**
 * A mocked GoCardless Bank Account Data service (an upstream aggregator): token, institutions,
 * end-user agreements, requisitions with their hosted link, accounts, balances and transactions.
 * Strict like our banks: every request and every response is validated against the published
 * OpenAPI file (vendored unchanged in sandbox/specs/) with openapi-backend; a request that breaks
 * it gets the upstream's 400 error shape, a response that would break it is a bug (500).
 *
 * It serves the same test users' data as the sandbox banks (the same seeded ledgers) and
 * reproduces what its users meet in production: transaction ids reissued between fetches,
 * pending entries without ids, the banks' daily limit of 4 successful calls per account and scope
 * (429 `RateLimitError`, with the documented `X-RateLimit-*` headers), agreements that lapse after
 * `access_valid_for_days` (401 `AccessExpiredError`), suspended (`SU`) and expired (`EX`)
 * requisitions. Its control API (admin token) moves the clock and switches those behaviours on.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import addFormats from 'ajv-formats';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { OpenAPIBackend, type Document } from 'openapi-backend';
import type { Logger } from 'pino';
import spec from '../specs/gocardless-bank-account-data-v2.json';
import { BANK_DEFINITIONS } from '../banks';
import type { BankDefinition, SandboxBankInfo, SandboxClientCredentials } from '../core/bank';
import { addDays, BankClock } from '../core/clock';
import { buildLedger, formatCents, TransactionView, balancesOf, type LedgerAccount, type LedgerTransaction } from '../core/ledger';
import { Prng } from '../core/prng';
import { findUser } from '../core/users';
import esc from 'escape-html';
import { ACCESS_TTL_S, describeGoCardlessUpstream, REFRESH_TTL_S, UPSTREAM_DAILY_LIMIT, upstreamInstitutionId } from './gocardless-identity';

export { describeGoCardlessUpstream, UPSTREAM_DAILY_LIMIT, upstreamInstitutionId } from './gocardless-identity';

/** The general limit on `/accounts/` endpoints: 100 calls per minute. */
const GENERAL_LIMIT_PER_MINUTE = 100;

type Scope = 'details' | 'balances' | 'transactions';
type RequisitionStatus = 'CR' | 'GC' | 'UA' | 'RJ' | 'SA' | 'GA' | 'LN' | 'EX' | 'SU' | 'ID' | 'ER';

interface Institution {
  id: string;
  def: BankDefinition;
  readonly accounts: LedgerAccount[];
}

interface Agreement {
  id: string;
  created: string;
  institution_id: string;
  max_historical_days: number;
  access_valid_for_days: number;
  access_scope: string[];
  accepted: string | null;
  reconfirmation: boolean;
}

interface Requisition {
  id: string;
  created: string;
  redirect: string;
  status: RequisitionStatus;
  institution_id: string;
  agreement: string;
  reference: string;
  accounts: string[];
  user_language: string;
  owner: string | null;
  /** Login page session (one browser). */
  session: string | null;
}

/** What the gateway needs to reach the upstream sandbox. */
export interface SandboxUpstream {
  router: Router;
  /** The upstream's institutions as registry entries (standard `GOCARDLESS`). */
  banks: SandboxBankInfo[];
  /** The operator's secret id/key per registry entry (the same pair for all). */
  clients: Record<string, SandboxClientCredentials>;
  baseUrl: string;
}

const sha = (s: string) => createHash('sha256').update(s).digest();
const same = (a: string, b: string) => timingSafeEqual(sha(a), sha(b));

/** A stable UUID derived from a label: the upstream's own ids for the banks' accounts. */
function derivedUuid(label: string): string {
  const h = createHash('sha256').update(label).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The upstream's id of a sandbox bank, in its `NAME_BIC8` style. */

export function createGoCardlessUpstream(opts: {
  publicUrl: string;
  mountPath: string;
  seed: number;
  startMs: number;
  adminToken: string;
  logger: Logger;
}): SandboxUpstream {
  const basePath = `${opts.mountPath}/upstreams/gocardless`;
  const baseUrl = `${opts.publicUrl}${basePath}`;
  const log = opts.logger.child({ upstream: 'gocardless' });
  const clock = new BankClock(opts.startMs);
  const ids = Prng.from(opts.seed, 'upstream/gocardless/ids');
  const described = describeGoCardlessUpstream(opts);
  const secret = described.secret;
  const endDay = new Date(opts.startMs).toISOString().slice(0, 10);

  // Ledgers are built on first use: most sandboxes never call the upstream.
  const institutions = new Map<string, Institution>();
  for (const def of BANK_DEFINITIONS) {
    let accounts: LedgerAccount[] | undefined;
    institutions.set(upstreamInstitutionId(def), {
      id: upstreamInstitutionId(def),
      def,
      get accounts() {
        return (accounts ??= buildLedger(def, opts.seed, endDay).accounts);
      },
    });
  }
  let accountIndex: Map<string, { account: LedgerAccount; institution: Institution }> | undefined;
  const accountById = {
    get(id: string) {
      if (!accountIndex) {
        accountIndex = new Map();
        for (const inst of institutions.values())
          for (const a of inst.accounts) accountIndex.set(derivedUuid(`${inst.id}/${a.id}`), { account: a, institution: inst });
      }
      return accountIndex.get(id);
    },
  };
  const upstreamIdOf = (inst: Institution, a: LedgerAccount) => derivedUuid(`${inst.id}/${a.id}`);

  const state = {
    secretRevoked: false,
    reissueIds: false,
    fetches: 0,
    dailyLimit: UPSTREAM_DAILY_LIMIT,
    /** Make the next account answer break the OpenAPI file (a known upstream fault), to test the gateway's refusal. */
    breakNextResponse: false,
    access: new Map<string, number>(),
    refresh: new Map<string, number>(),
    agreements: new Map<string, Agreement>(),
    requisitions: new Map<string, Requisition>(),
    /** `${day} ${accountId} ${scope}` → successful calls. */
    usage: new Map<string, number>(),
    /** `${minute}` → calls to /accounts/. */
    minute: new Map<number, number>(),
  };

  // --- OpenAPI validation ------------------------------------------------------------------------
  const api = new OpenAPIBackend({
    definition: spec as unknown as Document,
    strict: false,
    validate: true,
    // The vendored file is fixed, so checking it against OpenAPI's own schema at every start buys
    // nothing; compiling each operation's validators on its first call makes the first request
    // ~30 ms instead of seconds (it ran into the gateway's 15 s bank timeout on a busy machine).
    quick: true,
    ignoreTrailingSlashes: false,
    customizeAjv: (ajv) => {
      addFormats(ajv);
      return ajv;
    },
  });
  let ready: Promise<unknown> | undefined;

  const error = (res: Response, status: number, summary: string, detail: string, type?: string) => {
    res.locals.operationStatus = status;
    return sendValidated(res, status, { summary, detail, status_code: status, ...(type ? { type } : {}) });
  };

  /** Sends a response only if it matches the OpenAPI file for the operation and status. */
  function sendValidated(res: Response, status: number, body: unknown) {
    const operation = res.locals.operation as Parameters<typeof api.validator.validateResponse>[1] | undefined;
    if (operation && status !== 204) {
      const result = api.validator.validateResponse(body, operation, status);
      if (result.errors?.length) {
        log.error(
          { operation: (operation as { operationId?: string }).operationId, status, errors: result.errors.slice(0, 5) },
          'sandbox upstream response breaks the OpenAPI file',
        );
        return res.status(500).json({ summary: 'Sandbox response invalid', detail: 'The sandbox built an answer its OpenAPI file forbids.', status_code: 500 });
      }
    }
    return res.status(status).json(body);
  }

  const router = express.Router();
  router.use(express.json({ limit: '64kb' }));
  router.use(express.urlencoded({ extended: false, limit: '4kb' }));

  // Control API first: it is not part of the upstream's OpenAPI file.
  router.use('/control', controlRouter());
  router.get('/link/:id', (req, res) => linkPage(req, res));
  router.post('/link/:id', (req, res) => linkSubmit(req, res));

  // Every /api/v2 request is matched to its operation and validated before any handler runs.
  router.use('/api/v2', (req: Request, res: Response, next: NextFunction) => {
    // Compiled on the first request: a sandbox that never calls the upstream pays nothing for it.
    void (ready ??= api.init()).then(() => {
      const path = `/api/v2${req.path}`;
      const request = {
        method: req.method.toLowerCase(),
        path,
        query: req.query as Record<string, string>,
        headers: req.headers as Record<string, string>,
        body: req.body as unknown,
      };
      const operation = api.router.matchOperation(request);
      if (!operation) return error(res.status(404), 404, 'Not found.', `No operation ${req.method} ${path}`);
      res.locals.operation = operation;
      const result = api.validator.validateRequest(request, operation);
      if (result.errors?.length) {
        const first = result.errors[0]!;
        return sendValidated(res, 400, {
          summary: 'Invalid request',
          detail: `${first.instancePath || '/'} ${first.message ?? 'is invalid'}`.slice(0, 300),
          status_code: 400,
          type: 'ValidationError',
        });
      }
      next();
    }, next);
  });

  // --- token ------------------------------------------------------------------------------------
  router.post('/api/v2/token/new/', (req, res) => {
    const body = req.body as { secret_id: string; secret_key: string };
    if (state.secretRevoked || !same(body.secret_id, secret.secretId) || !same(body.secret_key, secret.secretKey)) {
      return error(res, 401, 'Authentication failed', 'No active account found with the given credentials', 'AuthenticationFailed');
    }
    const access = randomBytes(24).toString('base64url');
    const refresh = randomBytes(24).toString('base64url');
    state.access.set(access, clock.nowMs() + ACCESS_TTL_S * 1000);
    state.refresh.set(refresh, clock.nowMs() + REFRESH_TTL_S * 1000);
    sendValidated(res, 200, { access, access_expires: ACCESS_TTL_S, refresh, refresh_expires: REFRESH_TTL_S });
  });

  router.post('/api/v2/token/refresh/', (req, res) => {
    const { refresh } = req.body as { refresh: string };
    const until = state.refresh.get(refresh);
    if (state.secretRevoked || !until || until < clock.nowMs()) return error(res, 401, 'Invalid token', 'Token is invalid or expired', 'AuthenticationFailed');
    const access = randomBytes(24).toString('base64url');
    state.access.set(access, clock.nowMs() + ACCESS_TTL_S * 1000);
    sendValidated(res, 200, { access, access_expires: ACCESS_TTL_S });
  });

  // Everything else needs a valid access token.
  router.use('/api/v2', (req, res, next) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const until = m ? state.access.get(m[1]!) : undefined;
    if (state.secretRevoked || !until || until < clock.nowMs()) {
      return error(res, 401, 'Invalid token', 'Token is invalid or expired', 'AuthenticationFailed');
    }
    next();
  });

  // --- institutions -----------------------------------------------------------------------------
  const institutionJson = (i: Institution, full: boolean) => ({
    id: i.id,
    name: i.def.name,
    bic: i.def.bic,
    transaction_total_days: '730',
    max_access_valid_for_days: String(i.def.maxConsentDays),
    countries: [i.def.country],
    logo: `${baseUrl}/logos/${i.id}.png`,
    ...(full ? { supported_features: ['account_selection', 'business_accounts'], identification_codes: [] } : {}),
  });
  router.get('/api/v2/institutions/', (req, res) => {
    const country = typeof req.query.country === 'string' ? req.query.country.toUpperCase() : undefined;
    sendValidated(
      res,
      200,
      [...institutions.values()].filter((i) => !country || i.def.country === country).map((i) => institutionJson(i, false)),
    );
  });
  router.get('/api/v2/institutions/:id/', (req, res) => {
    const i = institutions.get(String(req.params.id));
    if (!i) return error(res, 404, 'Not found.', 'Not found.');
    sendValidated(res, 200, institutionJson(i, true));
  });

  // --- end-user agreements ----------------------------------------------------------------------
  const agreementExpired = (a: Agreement) => a.accepted !== null && Date.parse(a.accepted) + a.access_valid_for_days * 86_400_000 <= clock.nowMs();
  router.post('/api/v2/agreements/enduser/', (req, res) => {
    const body = req.body as Partial<Agreement> & { institution_id: string };
    const inst = institutions.get(body.institution_id);
    if (!inst) return error(res, 400, 'Unknown Institution ID', `Get Institution IDs from /institutions/?country={$COUNTRY_CODE}`, 'UnknownInstitution');
    const maxDays = inst.def.maxConsentDays;
    const valid = body.access_valid_for_days ?? 90;
    if (valid > maxDays) return error(res, 400, 'Incorrect access_valid_for_days', `access_valid_for_days must be > 0 and <= ${maxDays}`, 'InvalidAgreement');
    const agreement: Agreement = {
      id: ids.uuid(),
      created: clock.now().toISOString(),
      institution_id: inst.id,
      max_historical_days: Math.min(body.max_historical_days ?? 90, 730),
      access_valid_for_days: valid,
      access_scope: body.access_scope ?? ['balances', 'details', 'transactions'],
      accepted: null,
      reconfirmation: false,
    };
    state.agreements.set(agreement.id, agreement);
    sendValidated(res, 201, agreement);
  });
  router.get('/api/v2/agreements/enduser/:id/', (req, res) => {
    const a = state.agreements.get(String(req.params.id));
    if (!a) return error(res, 404, 'Not found.', 'Not found.');
    sendValidated(res, 200, a);
  });
  router.delete('/api/v2/agreements/enduser/:id/', (req, res) => {
    if (!state.agreements.delete(String(req.params.id))) return error(res, 404, 'Not found.', 'Not found.');
    sendValidated(res, 200, { summary: 'End User Agreement deleted', detail: `End User Agreement ${String(req.params.id)} deleted` });
  });

  // --- requisitions -----------------------------------------------------------------------------
  const requisitionStatus = (r: Requisition): RequisitionStatus => {
    const a = state.agreements.get(r.agreement);
    if (r.status === 'LN' && (!a || agreementExpired(a))) return 'EX';
    return r.status;
  };
  const requisitionJson = (r: Requisition) => ({
    id: r.id,
    created: r.created,
    redirect: r.redirect,
    status: requisitionStatus(r),
    institution_id: r.institution_id,
    agreement: r.agreement,
    reference: r.reference,
    accounts: r.accounts,
    user_language: r.user_language,
    link: `${baseUrl}/link/${r.id}`,
    account_selection: false,
    redirect_immediate: false,
  });
  router.post('/api/v2/requisitions/', (req, res) => {
    const body = req.body as { redirect: string; institution_id: string; agreement?: string; reference?: string; user_language?: string };
    const inst = institutions.get(body.institution_id);
    if (!inst) return error(res, 400, 'Unknown Institution ID', 'Get Institution IDs from /institutions/', 'UnknownInstitution');
    let agreementId = body.agreement;
    if (agreementId) {
      const a = state.agreements.get(agreementId);
      if (!a || a.institution_id !== inst.id)
        return error(res, 400, 'Incorrect Institution ID', 'Provided Institution ID is different from the one in the agreement', 'InvalidAgreement');
      if (a.accepted) return error(res, 400, 'Agreement already used', 'This agreement was already accepted; create a new one', 'InvalidAgreement');
    } else {
      const a: Agreement = {
        id: ids.uuid(),
        created: clock.now().toISOString(),
        institution_id: inst.id,
        max_historical_days: 90,
        access_valid_for_days: 90,
        access_scope: ['balances', 'details', 'transactions'],
        accepted: null,
        reconfirmation: false,
      };
      state.agreements.set(a.id, a);
      agreementId = a.id;
    }
    if (body.reference && [...state.requisitions.values()].some((r) => r.reference === body.reference)) {
      return error(res, 400, 'Reference already exists', 'Client reference must be unique', 'UniqueReference');
    }
    const r: Requisition = {
      id: ids.uuid(),
      created: clock.now().toISOString(),
      redirect: body.redirect,
      status: 'CR',
      institution_id: inst.id,
      agreement: agreementId,
      reference: body.reference ?? ids.uuid(),
      accounts: [],
      user_language: body.user_language ?? 'EN',
      owner: null,
      session: null,
    };
    state.requisitions.set(r.id, r);
    sendValidated(res, 201, requisitionJson(r));
  });
  router.get('/api/v2/requisitions/:id/', (req, res) => {
    const r = state.requisitions.get(String(req.params.id));
    if (!r) return error(res, 404, 'Not found.', 'Not found.');
    sendValidated(res, 200, requisitionJson(r));
  });
  router.delete('/api/v2/requisitions/:id/', (req, res) => {
    const r = state.requisitions.get(String(req.params.id));
    if (!r) return error(res, 404, 'Not found.', 'Not found.');
    state.requisitions.delete(r.id);
    state.agreements.delete(r.agreement);
    sendValidated(res, 200, { summary: 'Requisition deleted', detail: "Requisition '" + r.id + "' deleted with all its End User Agreements" });
  });

  // --- accounts ---------------------------------------------------------------------------------
  /** The live requisition granting this account, or the error it answers. */
  function grantFor(accountId: string, res: Response): { account: LedgerAccount; institution: Institution; agreement: Agreement } | undefined {
    const found = accountById.get(accountId);
    const holders = [...state.requisitions.values()].filter((r) => r.accounts.includes(accountId));
    if (!found || holders.length === 0) {
      error(res, 404, `Account ID ${accountId} not found`, 'Please check whether you specified a valid Account ID', 'NotFound');
      return undefined;
    }
    const live = holders.find((r) => requisitionStatus(r) === 'LN');
    if (!live) {
      const suspended = holders.find((r) => r.status === 'SU');
      const a = state.agreements.get(holders[0]!.agreement);
      if (suspended)
        error(res, 401, 'Requisition suspended', 'This requisition was suspended after repeated failures at the institution; create a new one', 'Suspended');
      else
        error(
          res,
          401,
          `End User Agreement (EUA) ${a?.id ?? holders[0]!.agreement} has expired`,
          `EUA was valid for ${a?.access_valid_for_days ?? 90} days and it expired. The end user must reconnect the account.`,
          'AccessExpiredError',
        );
      return undefined;
    }
    return { ...found, agreement: state.agreements.get(live.agreement)! };
  }

  /** The documented rate-limit headers; a day's 5th successful call of one scope is the bank's 429. */
  function limited(res: Response, accountId: string, scope: Scope): boolean {
    const minute = Math.floor(clock.nowMs() / 60_000);
    const general = (state.minute.get(minute) ?? 0) + 1;
    state.minute.set(minute, general);
    const key = `${clock.today()} ${accountId} ${scope}`;
    const used = state.usage.get(key) ?? 0;
    res.setHeader('X-RateLimit-Limit', String(GENERAL_LIMIT_PER_MINUTE));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, GENERAL_LIMIT_PER_MINUTE - general)));
    res.setHeader('X-RateLimit-Reset', String(60 - (Math.floor(clock.nowMs() / 1000) % 60)));
    res.setHeader('X-RateLimit-Account-Success-Limit', String(state.dailyLimit));
    res.setHeader('X-RateLimit-Account-Success-Reset', String(clock.secondsUntilTomorrow()));
    if (general > GENERAL_LIMIT_PER_MINUTE) {
      res.setHeader('X-RateLimit-Account-Success-Remaining', String(Math.max(0, state.dailyLimit - used)));
      error(
        res,
        429,
        'Rate limit exceeded',
        `The rate limit for this resource is ${GENERAL_LIMIT_PER_MINUTE}/minute. Please try again in ${60 - (Math.floor(clock.nowMs() / 1000) % 60)} seconds`,
      );
      return true;
    }
    if (used >= state.dailyLimit) {
      res.setHeader('X-RateLimit-Account-Success-Remaining', '0');
      const what = scope === 'details' ? 'account details' : scope === 'balances' ? 'balances' : 'account transactions';
      error(res, 429, `Couldn't update ${what}`, 'Daily request limit set by the Institution has been exceeded.', 'RateLimitError');
      return true;
    }
    state.usage.set(key, used + 1);
    res.setHeader('X-RateLimit-Account-Success-Remaining', String(state.dailyLimit - used - 1));
    return false;
  }

  const scopeAllowed = (res: Response, agreement: Agreement, scope: Scope): boolean => {
    if (agreement.access_scope.includes(scope)) return true;
    error(res, 403, 'Access scope not allowed', `The End User Agreement does not grant ${scope}`, 'AccessScopeError');
    return false;
  };

  router.get('/api/v2/accounts/:id/', (req, res) => {
    const id = String(req.params.id);
    const found = accountById.get(id);
    if (!found) return error(res, 404, `Account ID ${id} not found`, 'Please check whether you specified a valid Account ID');
    sendValidated(res, 200, {
      id,
      created: new Date(opts.startMs).toISOString(),
      last_accessed: clock.now().toISOString(),
      iban: found.account.iban,
      bban: found.account.bban,
      status: 'READY',
      institution_id: found.institution.id,
      owner_name: found.account.ownerName,
      name: found.account.name,
    });
  });

  router.get('/api/v2/accounts/:id/details/', (req, res) => {
    const id = String(req.params.id);
    const g = grantFor(id, res);
    if (!g || !scopeAllowed(res, g.agreement, 'details') || limited(res, id, 'details')) return;
    const a = g.account;
    const cashAccountType = a.kind === 'card' ? 'CARD' : a.kind === 'savings' ? 'SVGS' : 'CACC';
    sendValidated(res, 200, {
      account: {
        resourceId: a.id,
        ...(a.kind === 'card' ? { maskedPan: a.maskedPan } : { iban: a.iban, bban: a.bban }),
        currency: a.currency,
        ownerName: a.ownerName,
        name: a.name,
        product: a.product,
        cashAccountType,
        status: 'enabled',
        usage: a.kind === 'business' ? 'ORGA' : 'PRIV',
      },
    });
  });

  router.get('/api/v2/accounts/:id/balances/', (req, res) => {
    const id = String(req.params.id);
    const g = grantFor(id, res);
    if (!g || !scopeAllowed(res, g.agreement, 'balances') || limited(res, id, 'balances')) return;
    const { bookedCents, expectedCents } = balancesOf(g.account);
    const today = clock.today();
    sendValidated(res, 200, {
      balances: [
        { balanceAmount: { amount: formatCents(bookedCents), currency: g.account.currency }, balanceType: 'closingBooked', referenceDate: today },
        { balanceAmount: { amount: formatCents(expectedCents), currency: g.account.currency }, balanceType: 'expected', referenceDate: today },
      ],
    });
  });

  router.get('/api/v2/accounts/:id/transactions/', (req, res) => {
    const id = String(req.params.id);
    const g = grantFor(id, res);
    if (!g || !scopeAllowed(res, g.agreement, 'transactions') || limited(res, id, 'transactions')) return;
    const accepted = Date.parse(g.agreement.accepted!);
    // The agreement's history limit, counted from its acceptance, bounds what the upstream serves.
    const earliest = addDays(new Date(accepted).toISOString().slice(0, 10), -g.agreement.max_historical_days);
    const from = typeof req.query.date_from === 'string' && req.query.date_from > earliest ? req.query.date_from : earliest;
    const to = typeof req.query.date_to === 'string' ? req.query.date_to : undefined;
    const view = new TransactionView(g.account, { dateFrom: from, dateTo: to, status: 'both' });
    const entries = view.slice(0, Math.min(view.total, 20_000));
    const fetch = ++state.fetches;
    const shape = (t: LedgerTransaction) => {
      const amount = formatCents(t.amountCents);
      const booked = t.status === 'booked';
      // Pending entries never carry an id here (a known upstream behaviour); booked ones do, reissued on every fetch when asked.
      const ids = booked
        ? {
            transactionId: state.reissueIds ? `${t.id.slice(0, 18)}-${fetch}` : t.id,
            internalTransactionId: state.reissueIds ? randomBytes(16).toString('hex') : createHash('md5').update(`${id}/${t.id}`).digest('hex'),
          }
        : {};
      const other = t.counterpartyIban ? { iban: t.counterpartyIban } : undefined;
      return {
        ...ids,
        ...(t.endToEndId ? { endToEndId: t.endToEndId } : {}),
        ...(booked ? { bookingDate: t.bookingDate } : {}),
        valueDate: t.valueDate,
        transactionAmount: { amount, currency: t.currency },
        ...(t.amountCents < 0
          ? { ...(t.counterpartyName ? { creditorName: t.counterpartyName } : {}), ...(other ? { creditorAccount: other } : {}) }
          : { ...(t.counterpartyName ? { debtorName: t.counterpartyName } : {}), ...(other ? { debtorAccount: other } : {}) }),
        ...(t.remittance ? { remittanceInformationUnstructured: t.remittance } : {}),
        bankTransactionCode: t.bankTransactionCode,
        ...(t.merchantCategoryCode ? { merchantCategoryCode: t.merchantCategoryCode } : {}),
      };
    };
    const booked = entries.filter((t) => t.status === 'booked').map(shape);
    const pending = entries.filter((t) => t.status === 'pending').map(shape);
    const body: Record<string, unknown> = { transactions: { booked, pending }, last_updated: clock.now().toISOString() };
    if (state.breakNextResponse) {
      state.breakNextResponse = false;
      // Sent as it is (not validated): this is the upstream breaking its own file.
      return res.status(200).json({ transactions: { pending } });
    }
    sendValidated(res, 200, body);
  });

  // --- the end user's link: login and one-time code, then back to the TPP ------------------------
  const page = (title: string, body: string) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`;
  function back(r: Requisition, extra: Record<string, string> = {}): string {
    const url = new URL(r.redirect);
    url.searchParams.set('ref', r.reference);
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
    return url.href;
  }
  function linkPage(req: Request, res: Response) {
    const r = state.requisitions.get(String(req.params.id));
    if (!r || (r.status !== 'CR' && r.status !== 'GC' && r.status !== 'UA')) {
      return res.status(404).type('html').send(page('Link not valid', '<p id="error">This link is unknown or was already used.</p>'));
    }
    r.status = 'GC';
    const inst = institutions.get(r.institution_id)!;
    r.session = randomBytes(16).toString('hex');
    res.setHeader('Set-Cookie', `gc_session=${r.session}; Path=${basePath}/link; HttpOnly; SameSite=Lax`);
    res.type('html').send(
      page(
        `Connect ${inst.def.name}`,
        `<p>GoCardless Bank Account Data (sandbox) asks ${esc(inst.def.name)} for your account information.</p>
<form method="post" action="${basePath}/link/${r.id}"><label>Username <input name="username"></label><label>Password <input name="password" type="password"></label>
<button name="action" value="login">Log in</button><button name="action" value="cancel">Cancel</button></form>`,
      ),
    );
  }
  function linkSubmit(req: Request, res: Response) {
    const r = state.requisitions.get(String(req.params.id));
    const cookie = /(?:^|;\s*)gc_session=([a-f0-9]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!r || !r.session || !cookie || !same(cookie, r.session) || (r.status !== 'GC' && r.status !== 'UA')) {
      return res.status(400).type('html').send(page('Link not valid', '<p id="error">This session is unknown or finished.</p>'));
    }
    const body = req.body as Record<string, string | undefined>;
    if (body.action === 'cancel') {
      r.status = 'RJ';
      r.session = null;
      return res.redirect(303, back(r, { error: 'UserCancelledSession', details: 'User cancelled the session' }));
    }
    if (body.action === 'login') {
      const user = findUser(body.username ?? '');
      if (!user || user.behaviour === 'wrong-password' || user.behaviour === 'locked' || body.password !== user.password) {
        return res.status(401).type('html').send(page('Log in', `<p id="error">Wrong username or password.</p>`));
      }
      r.owner = user.username;
      r.status = 'UA';
      return res
        .type('html')
        .send(
          page(
            'One-time code',
            `<form method="post" action="${basePath}/link/${r.id}"><label>Code <input name="code"></label><button name="action" value="approve">Approve</button><button name="action" value="cancel">Cancel</button></form>`,
          ),
        );
    }
    const user = r.owner ? findUser(r.owner) : undefined;
    if (body.action !== 'approve' || !user || r.status !== 'UA')
      return res.status(400).type('html').send(page('Link not valid', '<p id="error">Log in first.</p>'));
    if (user.behaviour === 'sca-timeout' || body.code !== user.otp) {
      return res.status(401).type('html').send(page('One-time code', '<p id="error">The code is not valid.</p>'));
    }
    r.session = null;
    if (user.behaviour === 'rejects') {
      r.status = 'RJ';
      return res.redirect(303, back(r, { error: 'UserCancelledSession', details: 'The end user declined access at the institution' }));
    }
    const inst = institutions.get(r.institution_id)!;
    const agreement = state.agreements.get(r.agreement)!;
    agreement.accepted = clock.now().toISOString();
    r.accounts = inst.accounts.filter((a) => a.owner === user.username).map((a) => upstreamIdOf(inst, a));
    r.status = 'LN';
    res.redirect(303, back(r));
  }

  // --- control API (sandbox only) ---------------------------------------------------------------
  function controlRouter(): Router {
    const control = express.Router();
    control.use((req, res, next) => {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      if (!m || !same(m[1]!, opts.adminToken)) return res.status(401).json({ error: 'admin token required' });
      next();
    });
    control.get('/', (_req, res) =>
      res.json({ reissueIds: state.reissueIds, dailyLimit: state.dailyLimit, now: clock.now().toISOString(), requisitions: state.requisitions.size }),
    );
    control.post('/behaviour', (req, res) => {
      const b = req.body as { reissueIds?: unknown; dailyLimit?: unknown; breakNextResponse?: unknown; secretRevoked?: unknown };
      if (typeof b.reissueIds === 'boolean') state.reissueIds = b.reissueIds;
      if (typeof b.dailyLimit === 'number' && Number.isInteger(b.dailyLimit) && b.dailyLimit >= 0 && b.dailyLimit <= 1000) state.dailyLimit = b.dailyLimit;
      if (typeof b.breakNextResponse === 'boolean') state.breakNextResponse = b.breakNextResponse;
      if (typeof b.secretRevoked === 'boolean') state.secretRevoked = b.secretRevoked;
      res.json({ reissueIds: state.reissueIds, dailyLimit: state.dailyLimit, breakNextResponse: state.breakNextResponse, secretRevoked: state.secretRevoked });
    });
    control.post('/clock/advance', (req, res) => {
      const seconds = (req.body as { seconds?: unknown }).seconds;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0 || seconds > 800 * 86_400)
        return res.status(400).json({ error: 'seconds: 0..69120000' });
      clock.advance(seconds * 1000);
      res.json({ now: clock.now().toISOString() });
    });
    /** Uses up today's calls of an account and scope, so the next one meets the daily-limit 429. */
    control.post('/accounts/:id/exhaust', (req, res) => {
      const scope = (req.body as { scope?: unknown }).scope;
      if (scope !== 'details' && scope !== 'balances' && scope !== 'transactions')
        return res.status(400).json({ error: 'scope: details|balances|transactions' });
      state.usage.set(`${clock.today()} ${String(req.params.id)} ${scope}`, state.dailyLimit);
      res.json({ ok: true });
    });
    /** The bank books the account's newest pending entry: it now has a booking date and, at the upstream, ids. */
    control.post('/accounts/:id/book-pending', (req, res) => {
      const found = accountById.get(String(req.params.id));
      const entry = found?.account.transactions.find((t) => t.status === 'pending');
      if (!found || !entry) return res.status(404).json({ error: 'no such account, or no pending entry' });
      entry.status = 'booked';
      entry.bookingDate = clock.today();
      res.json({ amount: formatCents(entry.amountCents), bookingDate: entry.bookingDate });
    });
    control.post('/requisitions/:id/status', (req, res) => {
      const r = state.requisitions.get(String(req.params.id));
      const status = (req.body as { status?: unknown }).status;
      if (!r) return res.status(404).json({ error: 'no such requisition' });
      if (status !== 'SU' && status !== 'EX') return res.status(400).json({ error: 'status: SU|EX' });
      r.status = status;
      if (status === 'EX') {
        const a = state.agreements.get(r.agreement);
        if (a?.accepted) a.accepted = new Date(clock.nowMs() - a.access_valid_for_days * 86_400_000).toISOString();
      }
      res.json(requisitionJson(r));
    });
    /** What the upstream holds for an account (its own id), in the keys tests compare: booked with date, pending by amount. */
    control.get('/accounts/:id/ledger', (req, res) => {
      const found = accountById.get(String(req.params.id));
      if (!found) return res.status(404).json({ error: 'no such account' });
      const dateFrom = typeof req.query.dateFrom === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(req.query.dateFrom) ? req.query.dateFrom : undefined;
      const view = new TransactionView(found.account, { dateFrom, status: 'both' });
      res.json({ transactions: view.slice(0, view.total).map((t) => ({ status: t.status, amount: formatCents(t.amountCents), bookingDate: t.bookingDate })) });
    });
    control.get('/requisitions', (_req, res) => res.json({ requisitions: [...state.requisitions.values()].map(requisitionJson) }));
    return control;
  }

  return { router, banks: described.banks, clients: described.clients, baseUrl };
}
