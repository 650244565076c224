import { randomUUID } from 'node:crypto';
import type { Bank } from '../../core/bank';
import { BankError, type BankErrorCode, type Dialect } from '../../core/errors';
import { publicJwk, signDetached } from '../../core/jws';
import { OpenApiSpec } from '../../core/openapi';
import { strictRequests } from '../strict';
import { addSigningIdentity } from './uk-obie.identity';
import { ukObieContext } from './uk-obie.context';
import { mountUkObieAccounts } from './uk-obie.accounts.routes';
import { mountUkObieConsents } from './uk-obie.consents.routes';
import { mountUkObiePayments } from './uk-obie.payments.routes';

export { addSigningIdentity } from './uk-obie.identity';

/** UK OBIE 3.1.11 ErrorCode per canonical code (banks may add their own namespaced codes). */
const UK_CODES: Record<BankErrorCode, string> = {
  FORMAT_ERROR: 'UK.OBIE.Field.Invalid',
  HEADER_MISSING: 'UK.OBIE.Header.Missing',
  PARAMETER_NOT_SUPPORTED: 'UK.OBIE.Field.Unexpected',
  CONSENT_UNKNOWN: 'UK.OBIE.Resource.NotFound',
  CONSENT_INVALID: 'UK.OBIE.Resource.InvalidConsentStatus',
  CONSENT_EXPIRED: 'UK.OBIE.Reauthenticate',
  ACCESS_EXCEEDED: 'UK.THAMES.Rules.AccessExceeded',
  RATE_LIMITED: 'UK.THAMES.Rules.RateLimited',
  TOKEN_INVALID: 'UK.OBIE.Header.Invalid',
  TOKEN_EXPIRED: 'UK.OBIE.Header.Invalid',
  RESOURCE_UNKNOWN: 'UK.OBIE.Resource.NotFound',
  PERIOD_INVALID: 'UK.OBIE.Field.InvalidDate',
  SERVICE_UNAVAILABLE: 'UK.OBIE.UnexpectedError',
  INTERNAL_SERVER_ERROR: 'UK.OBIE.UnexpectedError',
  CANCELLATION_INVALID: 'UK.OBIE.Resource.InvalidConsentStatus',
  STATUS_INVALID: 'UK.OBIE.Resource.InvalidConsentStatus',
  DUPLICATE_REQUEST: 'UK.OBIE.Rules.DuplicateReference',
  PAYMENT_INVALID: 'UK.OBIE.Field.Invalid',
};

/** UK answers 401 and 404 without a body, 403 with one, and maps consent errors to 403. */
const UK_STATUS: Partial<Record<BankErrorCode, number>> = {
  CONSENT_UNKNOWN: 403,
  CONSENT_INVALID: 403,
  CONSENT_EXPIRED: 403,
  CANCELLATION_INVALID: 400,
  STATUS_INVALID: 400,
  DUPLICATE_REQUEST: 400,
};

export const ukDialect: Dialect = {
  sendError(req, res, status, code, text, detail) {
    res.set('x-fapi-interaction-id', req.get('x-fapi-interaction-id') ?? randomUUID());
    if (detail?.retryAfterSeconds !== undefined) res.set('Retry-After', String(detail.retryAfterSeconds));
    const finalStatus = status >= 500 || status === 429 ? status : (UK_STATUS[code] ?? status);
    if (finalStatus === 401) {
      res.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${text.replace(/"/g, "'")}"`);
      return void res.status(401).end();
    }
    if (finalStatus === 404) return void res.status(404).end();
    res.status(finalStatus).json({
      Code: code,
      Id: req.get('x-fapi-interaction-id') ?? randomUUID(),
      Message: text.slice(0, 500),
      Errors: [{ ErrorCode: UK_CODES[code], Message: text.slice(0, 500), ...(detail?.path ? { Path: detail.path } : {}) }],
    });
  },
};

/** Mounts a UK Open Banking Read/Write 3.1.11 bank (AISP + domestic PISP). */
export function mountUkObie(bank: Bank): void {
  bank.dialect = ukDialect;
  bank.hooks = {
    ...bank.hooks,
    executeOnAuthorisation: false,
    resolveOidcTarget(params) {
      let intent: unknown;
      try {
        const claims = JSON.parse(String(params.claims ?? '{}')) as Record<string, Record<string, { value?: unknown }>>;
        intent = claims.id_token?.openbanking_intent_id?.value ?? claims.userinfo?.openbanking_intent_id?.value;
      } catch {
        intent = undefined;
      }
      if (typeof intent !== 'string') throw new BankError('FORMAT_ERROR', 'The claims parameter must carry openbanking_intent_id.');
      const consent = bank.consents.get(intent);
      if (consent) {
        if (consent.status !== 'received') throw new BankError('CONSENT_INVALID', 'This consent is not awaiting authorisation.');
        return { consentId: intent };
      }
      const payment = bank.payments.get(intent);
      if (payment && payment.authorisedAtMs === undefined && !payment.rejected) return { paymentId: intent };
      throw new BankError('CONSENT_UNKNOWN', 'The openbanking_intent_id is unknown or already authorised.');
    },
  };
  const api = bank.api;
  const aisPath = bank.def.aisPath;
  const pisPath = bank.def.pisPath;

  api.use((req, res, next) => {
    res.set('x-fapi-interaction-id', req.get('x-fapi-interaction-id') ?? randomUUID());
    next();
  });
  // Strict: anything the official files forbid is refused before any route sees it.
  api.use(
    strictRequests(bank, [
      OpenApiSpec.load('uk-obie-3.1.11-account-info.yaml', { apiRoot: aisPath }),
      OpenApiSpec.load('uk-obie-3.1.11-payment-initiation.yaml', { apiRoot: pisPath }),
    ]),
  );

  // ----- message signing (x-jws-signature) ------------------------------------------------------
  // The bank signs its domestic payment answers and checks the TPP's signature on the two POSTs.
  // The sandbox stands in for the directory: it makes both keys and hands the TPP's to the client.
  const { bankKey, tppKey, bankIss, tppIss } = addSigningIdentity(bank.info, bank.client, bank.baseUrl);
  bank.published.get('/jwks', (_req, res, next) => void publicJwk(bankKey).then((jwk) => res.json({ keys: [jwk] }), next));

  const signedPaths = new RegExp(`^${pisPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/domestic-payment`);
  api.use((req, res, next) => {
    if (!signedPaths.test(req.path)) return next();
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      if (res.statusCode < 200 || res.statusCode >= 300) return json(body);
      const text = JSON.stringify(body);
      void signDetached(bankKey, bankIss, text, Date.now()).then(
        (signature) => res.set('x-jws-signature', signature).type('application/json').send(text),
        next,
      );
      return res;
    };
    next();
  });

  const ctx = ukObieContext(bank, { tppKey, tppIss });
  mountUkObieConsents(ctx);
  mountUkObieAccounts(ctx);
  mountUkObiePayments(ctx);
}
