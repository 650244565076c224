/**
 * What the GoCardless adapter's ports share for one institution: the upstream HTTP client, the
 * operator's access token (shared per upstream account by the whole process), the upstream's
 * rate-limit budget, and the requisition behind a consent.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { httpTransportOptions, type BankAdapterDeps } from '../index';
import { BankAccessExceeded, BankConsentInvalid, BankError, BankErrorCode, BankInvalidRequest, BankUnauthorized, BankUnavailable } from '../../errors';
import { createBankHttpClient, type BankHttpClient, type BankRequestOptions, type BankHttpResponse } from '../../http';
import type { InstitutionDescriptor } from '../../model';
import type { Logger } from '../../../platform/logger';
import { UpstreamBudget, type UpstreamScope } from './gocardless.limits';
import { gcRequisition, gcTokenPair, gcTokenRefreshed } from './gocardless.schemas';
import { goCardlessProtocol } from './gocardless.protocol';

/** One day in milliseconds (agreement lengths, the daily budget's reset). */
export const DAY_MS = 86_400_000;

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

/** The shared part of one institution's GoCardless adapter. */
export interface GoCardlessSession {
  institution: InstitutionDescriptor;
  institutionId: string;
  /** Plain http allowed (sandbox upstreams only, as the registry says). */
  sandbox: boolean;
  /** The institution's id at the upstream (quirk `upstreamInstitutionId`). */
  upstreamInstitutionId: string | null;
  log: Logger;
  details(operation: string): { institutionId: string; operation: string };
  /** True for the upstream's 404. */
  notFound(err: unknown): boolean;
  /** An authorised call; a refused token is replaced once. */
  call<T>(req: Omit<BankRequestOptions<T>, 'accessToken'>): Promise<BankHttpResponse<T>>;
  /** Runs an account call within the upstream's budget; a daily-limit 429 closes the scope until its reset. */
  counted<T>(accountId: string, scope: UpstreamScope, req: Omit<BankRequestOptions<T>, 'accessToken'>): Promise<BankHttpResponse<T>>;
  /** The requisition behind a consent, refused as a consent error when it no longer grants access. */
  readRequisition(requisitionId: string | null, operation: string): Promise<z.infer<typeof gcRequisition>>;
}

/** Builds the shared part of one GoCardless institution's adapter. */
export function createGoCardlessSession(deps: BankAdapterDeps): GoCardlessSession {
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

  return { institution, institutionId, sandbox, upstreamInstitutionId, log, details, notFound, call, counted, readRequisition };
}
