/**
 * GoCardless Bank Account Data v2 (formerly Nordigen) behind the banking ports: an upstream
 * aggregator that holds the PSD2 licence, for operators who hold none. A consent is an end-user
 * agreement (scopes, `max_historical_days`, `access_valid_for_days`) plus a requisition whose link
 * the end user follows; its status (CR/GC/UA/SA/GA → LN, or RJ/EX/SU) decides the consent's.
 * Account information only: the payment port refuses every call (institutions reached only
 * through the upstream list no payment scheme, so `paymentInitiate` answers NOT_SUPPORTED first).
 *
 * The operator's secret id/key (the credentials' `clientId`/`clientSecret`) buy an access token
 * (`/token/new/`, refreshed with `/token/refresh/`); tokens live in memory only and are never
 * logged. The upstream's documented rate-limit headers are remembered per account and scope
 * (gocardless.limits.ts): a call that would meet the bank's daily 429 is not made.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { httpTransportOptions, type BankAdapterDeps } from '../index';
import {
  BankAccessExceeded,
  BankConsentExpired,
  BankConsentInvalid,
  BankError,
  BankErrorCode,
  BankInvalidRequest,
  BankUnauthorized,
  BankUnavailable,
} from '../../errors';
import { createBankHttpClient, type BankHttpClient, type BankRequestOptions, type BankHttpResponse } from '../../http';
import type { AccessScope, CanonicalAccount, CanonicalTransaction } from '../../model';
import type { AccountInformationPort, BankAdapter, ConsentAuthorisationPort, ConsentCompleted, PaymentInitiationPort } from '../../ports';
import { UpstreamBudget, type UpstreamScope } from './gocardless.limits';
import { mapAccount, mapBalance, mapRequisitionStatus, mapTransaction } from './gocardless.mapper';
import {
  gcAccountDetails,
  gcAccountMetadata,
  gcAgreement,
  gcBalances,
  gcDeleted,
  gcRequisition,
  gcTokenPair,
  gcTokenRefreshed,
  gcTransactions,
} from './gocardless.schemas';
import { goCardlessProtocol } from './gocardless.protocol';

const DAY_MS = 86_400_000;
/** Account details rarely change and cost one of the bank's 4 daily calls: reuse them this long. */
const DETAILS_TTL_MS = 6 * 3_600_000;
/** The upstream serves at most this much history, whatever the bank. */
export const UPSTREAM_MAX_HISTORY_DAYS = 730;

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(sha256(a), sha256(b));

const SCOPE_NAMES: Record<AccessScope, UpstreamScope> = { ACCOUNTS: 'details', BALANCES: 'balances', TRANSACTIONS: 'transactions' };

/** Keys of {@link ConsentStarted.secrets}. */
type Secrets = Partial<Record<'requisitionId' | 'agreementId' | 'callbackState', string>>;

interface TokenState {
  access: string;
  accessUntil: number;
  refresh: string;
  refreshUntil: number;
}

/**
 * One token per upstream account (base URL + secret, hashed), shared by every institution's adapter in
 * the process: the upstream limits `/token/new/` to 100 calls an hour.
 */
const tokenStates = new Map<string, Promise<TokenState>>();

/** Builds the adapter of one institution reached through GoCardless Bank Account Data. */
export function createGoCardlessAdapter(deps: BankAdapterDeps): BankAdapter {
  const { institution, logger } = deps;
  const institutionId = institution.id;
  const sandbox = institution.quirks.sandbox === true;
  const upstreamInstitutionId = typeof institution.quirks.upstreamInstitutionId === 'string' ? institution.quirks.upstreamInstitutionId : null;
  const log = logger.child({ component: 'gocardless', institutionId });
  const secretId = deps.credentials.clientId;
  const secretKey = deps.credentials.clientSecret ?? '';
  const http: BankHttpClient = createBankHttpClient({
    institutionId,
    baseUrl: institution.aisBaseUrl,
    logger,
    onCall: deps.onCall,
    ...httpTransportOptions(deps, goCardlessProtocol),
    allowInsecureRequests: sandbox,
  });
  const details = (operation: string) => ({ institutionId, operation });
  const budget = new UpstreamBudget();
  const accountCache = new Map<string, { account: CanonicalAccount; at: number }>();
  const tokenKey = `${institution.aisBaseUrl} ${createHash('sha256').update(`${secretId}\0${secretKey}`).digest('hex')}`;

  async function newToken(): Promise<TokenState> {
    const now = Date.now();
    let res;
    try {
      res = await http.request({
        operation: 'token.new',
        method: 'POST',
        path: '/api/v2/token/new/',
        body: { secret_id: secretId, secret_key: secretKey },
        schema: gcTokenPair,
      });
    } catch (err) {
      // The operator's secret, not the end user's consent, was refused: the upstream is unavailable until the operator
      // fixes it. Never an UNAUTHORIZED, which would send every consent through it to REAUTH_REQUIRED.
      if (err instanceof BankUnauthorized || (err instanceof BankInvalidRequest && (err.httpStatus === 401 || err.httpStatus === 403))) {
        throw new BankUnavailable(
          `token.new at ${institutionId}: the upstream refused the operator's credentials (GOCARDLESS_SECRET_ID / GOCARDLESS_SECRET_KEY)`,
          {
            ...details('token.new'),
            httpStatus: err.httpStatus,
            requestId: err.requestId,
          },
        );
      }
      throw err;
    }
    return {
      access: res.data.access,
      accessUntil: now + res.data.access_expires * 1000,
      refresh: res.data.refresh,
      refreshUntil: now + res.data.refresh_expires * 1000,
    };
  }

  async function refreshed(previous: TokenState): Promise<TokenState> {
    const now = Date.now();
    if (previous.refreshUntil - 60_000 <= now) return newToken();
    try {
      const res = await http.request({
        operation: 'token.refresh',
        method: 'POST',
        path: '/api/v2/token/refresh/',
        body: { refresh: previous.refresh },
        schema: gcTokenRefreshed,
      });
      return { ...previous, access: res.data.access, accessUntil: now + res.data.access_expires * 1000 };
    } catch (err) {
      if (err instanceof BankUnauthorized) return newToken();
      throw err;
    }
  }

  /** A usable access token: the cached one, refreshed or new as its lifetime says. */
  async function accessToken(forceNew = false): Promise<string> {
    let pending = tokenStates.get(tokenKey);
    if (pending && !forceNew) {
      const state = await pending.catch(() => null);
      if (state && state.accessUntil - 60_000 > Date.now()) return state.access;
      pending = state ? refreshed(state) : newToken();
    } else pending = newToken();
    tokenStates.set(tokenKey, pending);
    // A failed attempt is not kept: the next call tries again.
    pending.catch(() => {
      if (tokenStates.get(tokenKey) === pending) tokenStates.delete(tokenKey);
    });
    return (await pending).access;
  }

  /** An authorised call; a refused token is replaced once (revoked at the upstream, or its clock differs). */
  async function call<T>(req: Omit<BankRequestOptions<T>, 'accessToken'>): Promise<BankHttpResponse<T>> {
    try {
      return await http.request({ ...req, accessToken: await accessToken() });
    } catch (err) {
      if (!(err instanceof BankUnauthorized)) throw err;
      return http.request({ ...req, accessToken: await accessToken(true) });
    }
  }

  const notFound = (err: unknown) => err instanceof BankInvalidRequest && err.httpStatus === 404;

  /** The requisition behind a consent, refused as a consent error when it no longer grants access. */
  async function readRequisition(requisitionId: string | null, operation: string) {
    if (!requisitionId) throw new BankConsentInvalid(`${operation} at ${institutionId}: no requisition id`, details(operation));
    try {
      return (await call({ operation, method: 'GET', path: `/api/v2/requisitions/${encodeURIComponent(requisitionId)}/`, schema: gcRequisition })).data;
    } catch (err) {
      if (notFound(err))
        throw new BankConsentInvalid(`${operation} at ${institutionId}: the upstream no longer knows the requisition`, {
          ...details(operation),
          httpStatus: 404,
          cause: err,
        });
      throw err;
    }
  }

  /** Runs an account call within the upstream's budget; a daily-limit 429 closes the scope until its reset. */
  async function counted<T>(accountId: string, scope: UpstreamScope, req: Omit<BankRequestOptions<T>, 'accessToken'>): Promise<BankHttpResponse<T>> {
    const wait = budget.waitMs(accountId, scope);
    if (wait > 0) {
      // Foreseen: the upstream said nothing is left today. Not a call, the same error a 429 would give.
      throw new BankAccessExceeded(
        `${req.operation} at ${institutionId}: the bank's daily limit for ${scope} is used up (foreseen from the upstream's rate-limit headers)`,
        {
          ...details(req.operation),
          retryAfterMs: wait,
          bankCode: 'RateLimitError',
        },
      );
    }
    try {
      const res = await call(req);
      budget.record(accountId, scope, res.headers);
      return res;
    } catch (err) {
      // The upstream forgets an account with its last requisition (revoked, deleted): a consent problem, not a retryable request.
      if (notFound(err))
        throw new BankConsentInvalid(`${req.operation} at ${institutionId}: the upstream no longer knows the account`, {
          ...details(req.operation),
          httpStatus: 404,
          cause: err,
        });
      if (err instanceof BankError && err.code === BankErrorCode.ACCESS_EXCEEDED) {
        const midnight = Math.floor(Date.now() / DAY_MS) * DAY_MS + DAY_MS;
        const resetsAt = err.retryAfterMs ? Date.now() + err.retryAfterMs : midnight;
        budget.exhaust(accountId, scope, resetsAt);
        if (!err.retryAfterMs) {
          throw new BankAccessExceeded(err.message, {
            ...details(req.operation),
            httpStatus: err.httpStatus,
            bankCode: err.bankCode,
            requestId: err.requestId,
            retryAfterMs: resetsAt - Date.now(),
            bodyExcerpt: err.bodyExcerpt,
          });
        }
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Consents: end-user agreement + requisition
  // ---------------------------------------------------------------------------------------------

  const consents: ConsentAuthorisationPort = {
    async start(_ctx, request) {
      if (!upstreamInstitutionId)
        throw new BankInvalidRequest(`consent.create at ${institutionId}: the registry keeps no upstream institution id`, details('consent.create'));
      const days = Math.max(1, Math.min(institution.maxConsentDays, Math.ceil((request.validUntil.getTime() - Date.now()) / DAY_MS)));
      const agreement = await call({
        operation: 'agreement.create',
        method: 'POST',
        path: '/api/v2/agreements/enduser/',
        body: {
          institution_id: upstreamInstitutionId,
          max_historical_days: Math.min(institution.maxHistoryDays, UPSTREAM_MAX_HISTORY_DAYS),
          access_valid_for_days: days,
          access_scope: [...new Set(request.scopes.map((s) => SCOPE_NAMES[s]))],
        },
        schema: gcAgreement,
      });
      const redirect = new URL(request.redirectUri);
      redirect.searchParams.set('state', request.state);
      const requisition = await call({
        operation: 'requisition.create',
        method: 'POST',
        path: '/api/v2/requisitions/',
        // The reference comes back as `ref`: the same one-time value as `state`, so either finds the attempt.
        body: { redirect: redirect.href, institution_id: upstreamInstitutionId, agreement: agreement.data.id, reference: request.state, user_language: 'EN' },
        schema: gcRequisition,
      });
      const link = new URL(requisition.data.link);
      if (link.protocol !== 'https:' && !(sandbox && link.protocol === 'http:')) {
        throw new BankInvalidRequest(`requisition.create at ${institutionId}: the link is not an https URL`, details('requisition.create'));
      }
      const secrets: Secrets = { requisitionId: requisition.data.id, agreementId: agreement.data.id, callbackState: request.state };
      return { bankConsentId: requisition.data.id, approach: 'REDIRECT', authorizationUrl: link.href, secrets: secrets as Record<string, string> };
    },

    async complete(_ctx, input): Promise<ConsentCompleted> {
      const secrets = input.secrets as Secrets;
      let callback: URL;
      try {
        callback = new URL(input.callbackUrl);
      } catch {
        return { outcome: 'FAILED', reason: 'INVALID_CALLBACK' };
      }
      const state = callback.searchParams.get('state');
      const ref = callback.searchParams.get('ref');
      if (!secrets.callbackState || state === null || !sameSecret(state, secrets.callbackState)) return { outcome: 'FAILED', reason: 'STATE_MISMATCH' };
      if (ref !== null && !sameSecret(ref, secrets.callbackState)) return { outcome: 'FAILED', reason: 'REFERENCE_MISMATCH' };
      const requisitionId = input.bankConsentId ?? secrets.requisitionId ?? null;
      // The upstream's word decides, not the URL: a redirect can be replayed or edited.
      const requisition = await readRequisition(requisitionId, 'requisition.get');
      switch (mapRequisitionStatus(requisition.status)) {
        case 'VALID': {
          const agreement = await call({
            operation: 'agreement.get',
            method: 'GET',
            path: `/api/v2/agreements/enduser/${encodeURIComponent(requisition.agreement)}/`,
            schema: gcAgreement,
          });
          const accepted = agreement.data.accepted ? Date.parse(agreement.data.accepted) : Date.now();
          return {
            outcome: 'AUTHORISED',
            bankConsentId: requisition.id,
            tokens: null,
            validUntil: new Date(accepted + agreement.data.access_valid_for_days * DAY_MS),
          };
        }
        case 'REJECTED':
          return { outcome: 'REJECTED', reason: 'the end user did not approve access at the bank' };
        case 'RECEIVED':
          if (callback.searchParams.get('error')) return { outcome: 'REJECTED', reason: 'the end user did not complete the authorisation' };
          return { outcome: 'FAILED', reason: `the requisition is not linked yet (${requisition.status})` };
        default:
          return { outcome: 'FAILED', reason: `the upstream reports the requisition as ${requisition.status}` };
      }
    },

    async status(_ctx, input) {
      try {
        return mapRequisitionStatus((await readRequisition(input.bankConsentId, 'requisition.status')).status);
      } catch (err) {
        if (err instanceof BankConsentInvalid && err.httpStatus === 404) return 'REVOKED';
        throw err;
      }
    },

    async revoke(_ctx, input) {
      if (!input.bankConsentId) return;
      try {
        // Deleting the requisition deletes its agreement too.
        await call({
          operation: 'requisition.delete',
          method: 'DELETE',
          path: `/api/v2/requisitions/${encodeURIComponent(input.bankConsentId)}/`,
          schema: gcDeleted,
        });
      } catch (err) {
        if (!notFound(err)) throw err;
        log.info('requisition already gone at the upstream');
      }
    },

    async refresh() {
      // Consents through the upstream hold no end-user tokens: the operator's token is renewed per call.
      throw new BankUnauthorized(`token.refresh at ${institutionId}: consents through the upstream have no tokens to refresh`, details('token.refresh'));
    },
  };

  // ---------------------------------------------------------------------------------------------
  // Account information
  // ---------------------------------------------------------------------------------------------

  async function linkedAccounts(requisitionId: string | null, operation: string): Promise<string[]> {
    const requisition = await readRequisition(requisitionId, operation);
    const status = mapRequisitionStatus(requisition.status);
    if (status === 'EXPIRED')
      throw new BankConsentExpired(`${operation} at ${institutionId}: the end-user agreement has expired (EX)`, { ...details(operation), bankCode: 'EX' });
    if (status !== 'VALID')
      throw new BankConsentInvalid(`${operation} at ${institutionId}: the requisition is ${requisition.status}`, {
        ...details(operation),
        bankCode: requisition.status,
      });
    return requisition.accounts;
  }

  const accounts: AccountInformationPort = {
    async listAccounts(_ctx, access) {
      const ids = await linkedAccounts(access.bankConsentId, 'accounts.list');
      const out: CanonicalAccount[] = [];
      for (const id of ids) {
        const cached = accountCache.get(id);
        if (cached && Date.now() - cached.at < DETAILS_TTL_MS) {
          out.push(cached.account);
          continue;
        }
        const path = `/api/v2/accounts/${encodeURIComponent(id)}`;
        const meta = await call({ operation: 'accounts.get', method: 'GET', path: `${path}/`, schema: gcAccountMetadata });
        const detail = await counted(id, 'details', { operation: 'accounts.details', method: 'GET', path: `${path}/details/`, schema: gcAccountDetails });
        const account = mapAccount(id, meta.data, detail.data);
        accountCache.set(id, { account, at: Date.now() });
        out.push(account);
      }
      return out;
    },

    async getBalances(_ctx, _access, bankAccountId) {
      const res = await counted(bankAccountId, 'balances', {
        operation: 'accounts.balances',
        method: 'GET',
        path: `/api/v2/accounts/${encodeURIComponent(bankAccountId)}/balances/`,
        schema: gcBalances,
      });
      return res.data.balances.map(mapBalance);
    },

    listTransactions(_ctx, _access, bankAccountId, window) {
      return (async function* (): AsyncGenerator<CanonicalTransaction[]> {
        const res = await counted(bankAccountId, 'transactions', {
          operation: 'accounts.transactions',
          method: 'GET',
          path: `/api/v2/accounts/${encodeURIComponent(bankAccountId)}/transactions/`,
          query: { date_from: window.dateFrom, date_to: window.dateTo ?? undefined },
          schema: gcTransactions,
        });
        // One answer holds both lists: handed on as two pages, booked first.
        if (window.status !== 'PENDING') yield res.data.transactions.booked.map((t) => mapTransaction(t, 'BOOKED'));
        if (window.status !== 'BOOKED') yield (res.data.transactions.pending ?? []).map((t) => mapTransaction(t, 'PENDING'));
      })();
    },
  };

  const refused = (operation: string) =>
    new BankInvalidRequest(`${operation} at ${institutionId}: GoCardless Bank Account Data offers account information only; payments need a direct bank`, {
      ...details(operation),
      bankCode: 'PAYMENTS_NOT_OFFERED',
    });
  const payments: PaymentInitiationPort = {
    initiate: () => Promise.reject(refused('payment.create')),
    complete: () => Promise.reject(refused('payment.complete')),
    status: () => Promise.reject(refused('payment.status')),
  };

  return { consents, accounts, payments };
}
