import type { Bank } from '../../core/bank';
import { BankError, type BankErrorCode, type Dialect } from '../../core/errors';
import type { AisConsent } from '../../core/state';
import { stetSpec } from './stet-openapi';
import { strictRequests } from '../strict';
import { UUID_RE } from '../common';
import { HAL, stetContext } from './stet.context';
import { mountStetAccounts } from './stet.accounts.routes';
import { mountStetConsents } from './stet.consents.routes';
import { mountStetPayments } from './stet.payments.routes';

/** STET error `error` codes (STET 1.6 error model: timestamp, status, error, message, path). */
const STET_CODES: Record<BankErrorCode, string> = {
  FORMAT_ERROR: 'FORMAT_ERROR',
  HEADER_MISSING: 'FORMAT_ERROR',
  PARAMETER_NOT_SUPPORTED: 'PARAMETER_NOT_SUPPORTED',
  CONSENT_UNKNOWN: 'CONSENT_UNKNOWN',
  CONSENT_INVALID: 'CONSENT_INVALID',
  CONSENT_EXPIRED: 'CONSENT_EXPIRED',
  ACCESS_EXCEEDED: 'ACCESS_EXCEEDED',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  TOKEN_INVALID: 'INVALID_TOKEN',
  TOKEN_EXPIRED: 'EXPIRED_TOKEN',
  RESOURCE_UNKNOWN: 'NOT_FOUND',
  PERIOD_INVALID: 'PERIOD_INVALID',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  CANCELLATION_INVALID: 'CANCELLATION_INVALID',
  STATUS_INVALID: 'STATUS_INVALID',
  DUPLICATE_REQUEST: 'DUPLICATE_REQUEST',
  PAYMENT_INVALID: 'PAYMENT_INVALID',
};

export const stetDialect: Dialect = {
  sendError(req, res, status, code, text, detail) {
    const requestId = req.get('x-request-id');
    if (requestId) res.set('X-Request-ID', requestId);
    if (detail?.retryAfterSeconds !== undefined) res.set('Retry-After', String(detail.retryAfterSeconds));
    if (status === 401) res.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${text.replace(/"/g, "'")}"`);
    res
      .status(status)
      .type(HAL)
      .json({ timestamp: new Date().toISOString(), status, error: STET_CODES[code], message: text.slice(0, 500), path: req.originalUrl.split('?')[0] });
  },
};

/** Mounts a STET 1.6 bank (AISP with OAuth2 authorisation code, PISP with consentApproval). */
export function mountStet(bank: Bank): void {
  bank.dialect = stetDialect;
  bank.hooks = {
    ...bank.hooks,
    executeOnAuthorisation: false,
    resolveOidcTarget(params) {
      const scopes = String(params.scope ?? '').split(' ');
      if (!scopes.includes('aisp')) throw new BankError('FORMAT_ERROR', 'The authorisation request must ask for the aisp scope.');
      return { implicitAis: true };
    },
    implicitConsent(userId, clientId) {
      const now = bank.clock.nowMs();
      const consent: AisConsent = {
        id: bank.newId(),
        clientId,
        userId,
        status: 'valid',
        access: {},
        recurringIndicator: true,
        frequencyPerDay: bank.def.frequencyPerDay,
        validUntil: bank.clampValidUntil(),
        createdAtMs: now,
        statusUpdatedAtMs: now,
        approach: 'REDIRECT',
        authorisations: [],
        extra: {},
      };
      bank.consents.set(consent.id, consent);
      return consent.id;
    },
  };
  const api = bank.api;
  const root = bank.def.aisPath;

  api.use((req, res, next) => {
    const id = req.get('x-request-id');
    if (!id || !UUID_RE.test(id)) throw new BankError('FORMAT_ERROR', 'The X-Request-ID header is missing or not a UUID.', 400, { path: 'X-Request-ID' });
    res.set('X-Request-ID', id);
    next();
  });
  // Strict: anything else the STET 1.6 shapes forbid is refused before any route sees it.
  api.use(strictRequests(bank, [stetSpec(root)]));

  const ctx = stetContext(bank);
  mountStetAccounts(ctx);
  mountStetConsents(ctx);
  mountStetPayments(ctx);
}
