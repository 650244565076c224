import type { Bank } from '../../core/bank';
import { BankError, type BankErrorCode, type Dialect } from '../../core/errors';
import { OpenApiSpec } from '../../core/openapi';
import { strictRequests } from '../strict';
import { UUID_RE } from '../common';
import { berlinGroupContext } from './berlin-group.context';
import { mountBerlinGroupAccounts } from './berlin-group.accounts.routes';
import { mountBerlinGroupCardAccounts } from './berlin-group.card-accounts.routes';
import { mountBerlinGroupConsents } from './berlin-group.consents.routes';
import { mountBerlinGroupPayments } from './berlin-group.payments.routes';

/** Berlin Group NextGenPSD2 1.3.12 error codes (tppMessages[].code). */
const BG_CODES: Record<BankErrorCode, string> = {
  FORMAT_ERROR: 'FORMAT_ERROR',
  HEADER_MISSING: 'FORMAT_ERROR',
  PARAMETER_NOT_SUPPORTED: 'PARAMETER_NOT_SUPPORTED',
  CONSENT_UNKNOWN: 'CONSENT_UNKNOWN',
  CONSENT_INVALID: 'CONSENT_INVALID',
  CONSENT_EXPIRED: 'CONSENT_EXPIRED',
  ACCESS_EXCEEDED: 'ACCESS_EXCEEDED',
  RATE_LIMITED: 'ACCESS_EXCEEDED',
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  RESOURCE_UNKNOWN: 'RESOURCE_UNKNOWN',
  PERIOD_INVALID: 'PERIOD_INVALID',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  CANCELLATION_INVALID: 'CANCELLATION_INVALID',
  STATUS_INVALID: 'STATUS_INVALID',
  DUPLICATE_REQUEST: 'FORMAT_ERROR',
  PAYMENT_INVALID: 'PAYMENT_FAILED',
};

export const berlinGroupDialect: Dialect = {
  sendError(req, res, status, code, text, detail) {
    const requestId = req.get('x-request-id');
    if (requestId) res.set('X-Request-ID', requestId);
    if (detail?.retryAfterSeconds !== undefined) res.set('Retry-After', String(detail.retryAfterSeconds));
    res.status(status).json({
      tppMessages: [{ category: 'ERROR', code: BG_CODES[code], text: text.slice(0, 500), ...(detail?.path ? { path: detail.path } : {}) }],
    });
  },
};

/** Mounts a Berlin Group NextGenPSD2 1.3.12 API (AIS + PIS) on the bank. */
export function mountBerlinGroup(bank: Bank): void {
  bank.dialect = berlinGroupDialect;
  bank.hooks = {
    ...bank.hooks,
    executeOnAuthorisation: true,
    resolveOidcTarget(params) {
      const scopes = String(params.scope ?? '').split(' ');
      const ais = scopes.find((s) => s.startsWith('AIS:'))?.slice(4);
      const pis = scopes.find((s) => s.startsWith('PIS:'))?.slice(4);
      if (ais) {
        const c = bank.consents.get(ais);
        if (!c || c.status !== 'received') throw new BankError('CONSENT_UNKNOWN', 'The consent in scope AIS:… is unknown or already used.');
        return { consentId: ais };
      }
      if (pis) {
        const p = bank.payments.get(pis);
        if (!p || p.authorisedAtMs !== undefined || p.rejected)
          throw new BankError('RESOURCE_UNKNOWN', 'The payment in scope PIS:… is unknown or already authorised.');
        return { paymentId: pis };
      }
      throw new BankError('FORMAT_ERROR', 'The scope must contain AIS:<consentId> or PIS:<paymentId>.');
    },
  };
  const api = bank.api;

  // Every request carries an X-Request-ID (UUID), echoed in the response.
  api.use((req, res, next) => {
    const id = req.get('x-request-id');
    if (!id || !UUID_RE.test(id)) {
      throw new BankError('FORMAT_ERROR', 'The X-Request-ID header is missing or not a UUID.', 400, { path: 'X-Request-ID' });
    }
    res.set('X-Request-ID', id);
    next();
  });
  // Strict: anything else the official file forbids is refused before any route sees it.
  api.use(strictRequests(bank, [OpenApiSpec.load('berlin-group-psd2-api-1.3.12.yaml')]));

  const ctx = berlinGroupContext(bank);
  mountBerlinGroupConsents(ctx);
  mountBerlinGroupAccounts(ctx);
  mountBerlinGroupCardAccounts(ctx);
  mountBerlinGroupPayments(ctx);
}
