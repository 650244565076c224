import { createHash, randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Bank } from '../../core/bank';
import { addDays } from '../../core/clock';
import { BankError, type BankErrorCode, type Dialect } from '../../core/errors';
import { balancesOf, formatCents, parseAmount, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import type { AisConsent, Payment, PaymentStatus } from '../../core/state';
import { checkDetached, publicJwk, signDetached } from '../../core/jws';
import { OpenApiSpec } from '../../core/openapi';
import { strictRequests } from '../strict';
import { linkWith, pageParam, queryString, transactionPage } from '../common';
import { addSigningIdentity } from './uk-obie.identity';

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

const PERMISSIONS = new Set([
  'ReadAccountsBasic',
  'ReadAccountsDetail',
  'ReadBalances',
  'ReadBeneficiariesBasic',
  'ReadBeneficiariesDetail',
  'ReadDirectDebits',
  'ReadOffers',
  'ReadPAN',
  'ReadParty',
  'ReadPartyPSU',
  'ReadProducts',
  'ReadScheduledPaymentsBasic',
  'ReadScheduledPaymentsDetail',
  'ReadStandingOrdersBasic',
  'ReadStandingOrdersDetail',
  'ReadStatementsBasic',
  'ReadStatementsDetail',
  'ReadTransactionsBasic',
  'ReadTransactionsCredits',
  'ReadTransactionsDebits',
  'ReadTransactionsDetail',
]);

const ISO_DT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;
const dt = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

/** UK payment status words for ISO codes (3.1.11 uses the long names). */
const UK_PAYMENT_STATUS: Record<PaymentStatus, string> = {
  RCVD: 'Pending',
  PATC: 'Pending',
  // Accepted for execution: what UK banks answer once the payment passed their checks.
  ACTC: 'AcceptedSettlementInProcess',
  ACSP: 'AcceptedSettlementInProcess',
  ACSC: 'AcceptedSettlementCompleted',
  RJCT: 'Rejected',
  CANC: 'Rejected',
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
  const ais = bank.info.aisBaseUrl;
  const pis = bank.info.pisBaseUrl;
  const base = bank.info.apiBaseUrl;

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

  /** The TPP's signature over the exact body; refused as a UK bank does (400, UK.OBIE.Signature.*). */
  const requireSignature = async (req: Request, res: Response): Promise<boolean> => {
    const raw = (req as Request & { rawBody?: Buffer }).rawBody?.toString('utf8') ?? '';
    const problem = await checkDetached(req.get('x-jws-signature'), raw, { publicKey: tppKey.publicKey, kid: tppKey.kid, iss: tppIss, nowMs: Date.now() });
    if (!problem) return true;
    res.status(400).json({
      Code: 'SIGNATURE_INVALID',
      Id: req.get('x-fapi-interaction-id') ?? randomUUID(),
      Message: problem.message,
      Errors: [{ ErrorCode: problem.code, Message: problem.message, Path: 'x-jws-signature' }],
    });
    return false;
  };

  const clientToken = async (req: Request, scope: string) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (token.kind !== 'client') throw new BankError('TOKEN_INVALID', 'A client-credentials token is required here.', 401);
    if (!token.scope.split(' ').includes(scope)) throw new BankError('TOKEN_INVALID', `The token lacks the ${scope} scope.`, 401);
    return token;
  };
  const userToken = async (req: Request) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (token.kind !== 'user') throw new BankError('TOKEN_INVALID', 'A PSU access token is required here.', 401);
    return token;
  };

  const wrap = (data: unknown, self: string, meta: Record<string, unknown> = {}) => ({ Data: data, Links: { Self: self }, Meta: meta });

  // ----- account-access-consents ------------------------------------------------------------

  const consentData = (c: AisConsent) => ({
    ConsentId: c.id,
    CreationDateTime: dt(c.createdAtMs),
    Status:
      c.status === 'valid' || c.status === 'expired'
        ? 'Authorised'
        : c.status === 'received'
          ? 'AwaitingAuthorisation'
          : c.status === 'rejected'
            ? 'Rejected'
            : 'Revoked',
    StatusUpdateDateTime: dt(c.statusUpdatedAtMs),
    Permissions: c.permissions ?? [],
    ExpirationDateTime: String(c.extra.expirationDateTime),
    ...(c.extra.transactionFrom ? { TransactionFromDateTime: String(c.extra.transactionFrom) } : {}),
    ...(c.extra.transactionTo ? { TransactionToDateTime: String(c.extra.transactionTo) } : {}),
  });

  api.post(`${aisPath}/account-access-consents`, async (req, res) => {
    const token = await clientToken(req, 'accounts');
    const data = (req.body as { Data?: Record<string, unknown> } | undefined)?.Data;
    if (!data || typeof data !== 'object') throw new BankError('FORMAT_ERROR', 'Data is required.', 400, { path: 'Data' });
    const permissions = data.Permissions;
    if (!Array.isArray(permissions) || permissions.length === 0)
      throw new BankError('FORMAT_ERROR', 'Data.Permissions is required.', 400, { path: 'Data.Permissions' });
    for (const p of permissions)
      if (!PERMISSIONS.has(String(p))) throw new BankError('FORMAT_ERROR', `Unknown permission ${String(p)}.`, 400, { path: 'Data.Permissions' });
    if (!permissions.includes('ReadAccountsBasic') && !permissions.includes('ReadAccountsDetail')) {
      throw new BankError('FORMAT_ERROR', 'Permissions must include ReadAccountsBasic or ReadAccountsDetail.', 400, { path: 'Data.Permissions' });
    }
    for (const f of ['ExpirationDateTime', 'TransactionFromDateTime', 'TransactionToDateTime']) {
      if (data[f] !== undefined && (typeof data[f] !== 'string' || !ISO_DT.test(data[f] as string)))
        throw new BankError('PERIOD_INVALID', `Data.${f} must be an ISO date-time.`, 400, { path: `Data.${f}` });
    }
    const now = bank.clock.nowMs();
    const maxMs = now + bank.def.maxConsentDays * 86_400_000;
    const requested = typeof data.ExpirationDateTime === 'string' ? Date.parse(data.ExpirationDateTime) : maxMs;
    if (requested <= now) throw new BankError('PERIOD_INVALID', 'Data.ExpirationDateTime is in the past.', 400, { path: 'Data.ExpirationDateTime' });
    const expiresMs = Math.min(requested, maxMs);
    const consent: AisConsent = {
      id: `aac-${bank.newId()}`,
      clientId: token.clientId,
      status: 'received',
      access: {},
      permissions: permissions.map(String),
      recurringIndicator: true,
      frequencyPerDay: bank.def.frequencyPerDay,
      validUntil: new Date(expiresMs).toISOString().slice(0, 10),
      createdAtMs: now,
      statusUpdatedAtMs: now,
      approach: 'REDIRECT',
      authorisations: [],
      extra: { expirationDateTime: dt(expiresMs), transactionFrom: data.TransactionFromDateTime, transactionTo: data.TransactionToDateTime },
    };
    bank.consents.set(consent.id, consent);
    res.status(201).json({ ...wrap(consentData(consent), `${ais}/account-access-consents/${consent.id}`), Risk: {} });
  });

  const ownConsent = async (req: Request) => {
    const token = await clientToken(req, 'accounts');
    const c = bank.consents.get(String(req.params.consentId));
    if (!c || c.clientId !== token.clientId || c.status === 'terminatedByTpp')
      throw new BankError('RESOURCE_UNKNOWN', 'Unknown consent.', 400, { path: 'ConsentId' });
    return bank.refreshConsent(c);
  };
  api.get(`${aisPath}/account-access-consents/:consentId`, async (req, res) => {
    const c = await ownConsent(req);
    res.json({ ...wrap(consentData(c), `${ais}/account-access-consents/${c.id}`), Risk: {} });
  });
  api.delete(`${aisPath}/account-access-consents/:consentId`, async (req, res) => {
    const c = await ownConsent(req);
    c.status = 'terminatedByTpp';
    c.statusUpdatedAtMs = bank.clock.nowMs();
    res.status(204).end();
  });

  // ----- account information --------------------------------------------------------------

  const has = (c: AisConsent, ...perms: string[]) => perms.some((p) => c.permissions?.includes(p));

  const dataConsent = async (req: Request): Promise<AisConsent> => {
    const token = await userToken(req);
    const consentId = token.link?.consentId;
    if (!consentId) throw new BankError('TOKEN_INVALID', 'This token was not issued for account access.', 401);
    const c = bank.consents.get(consentId);
    if (c?.status === 'expired' || (c && bank.refreshConsent(c).status === 'expired')) {
      throw new BankError('CONSENT_EXPIRED', `The consent expired at ${String(c.extra.expirationDateTime)}: the PSU must re-authenticate.`);
    }
    return bank.requireUsableConsent(c);
  };
  const psuPresent = (req: Request) => !!req.get('x-fapi-customer-ip-address');
  const accountOf = (c: AisConsent, req: Request): LedgerAccount => {
    const a = bank.consentAccounts(c, 'accounts').find((x) => x.id === req.params.accountId);
    if (!a) throw new BankError('CONSENT_INVALID', 'The consent does not cover this account.', 403, { path: 'AccountId' });
    return a;
  };

  const accountBody = (c: AisConsent, a: LedgerAccount) => ({
    AccountId: a.id,
    Status: 'Enabled',
    StatusUpdateDateTime: dt(bank.ctx.startMs - 400 * 86_400_000),
    Currency: a.currency,
    AccountType: a.kind === 'business' ? 'Business' : 'Personal',
    AccountSubType: a.kind === 'savings' ? 'Savings' : a.kind === 'card' ? 'CreditCard' : 'CurrentAccount',
    Nickname: a.name,
    ...(has(c, 'ReadAccountsDetail')
      ? {
          Account: [
            a.kind === 'card'
              ? { SchemeName: 'UK.OBIE.PAN', Identification: a.maskedPan!, Name: a.ownerName }
              : {
                  SchemeName: 'UK.OBIE.SortCodeAccountNumber',
                  Identification: `${a.sortCode}${a.accountNumber}`,
                  Name: a.ownerName,
                  SecondaryIdentification: a.iban.slice(0, 34),
                },
          ],
        }
      : {}),
  });

  const ukBalances = (a: LedgerAccount) => {
    const { bookedCents, expectedCents } = balancesOf(a);
    const now = dt(bank.clock.nowMs());
    return [
      {
        AccountId: a.id,
        CreditDebitIndicator: bookedCents < 0 ? 'Debit' : 'Credit',
        Type: 'InterimBooked',
        DateTime: now,
        Amount: { Amount: formatCents(Math.abs(bookedCents)), Currency: a.currency },
      },
      {
        AccountId: a.id,
        CreditDebitIndicator: expectedCents < 0 ? 'Debit' : 'Credit',
        Type: 'InterimAvailable',
        DateTime: now,
        Amount: { Amount: formatCents(Math.abs(expectedCents)), Currency: a.currency },
      },
    ];
  };

  api.get(`${aisPath}/accounts`, async (req, res) => {
    const c = await dataConsent(req);
    bank.countAccess(c, 'accounts', psuPresent(req));
    res.json(wrap({ Account: bank.consentAccounts(c, 'accounts').map((a) => accountBody(c, a)) }, `${ais}/accounts`, { TotalPages: 1 }));
  });
  api.get(`${aisPath}/accounts/:accountId`, async (req, res) => {
    const c = await dataConsent(req);
    const a = accountOf(c, req);
    bank.countAccess(c, `account:${a.id}`, psuPresent(req));
    res.json(wrap({ Account: [accountBody(c, a)] }, `${ais}/accounts/${a.id}`, { TotalPages: 1 }));
  });
  api.get(`${aisPath}/accounts/:accountId/balances`, async (req, res) => {
    const c = await dataConsent(req);
    if (!has(c, 'ReadBalances')) throw new BankError('CONSENT_INVALID', 'The consent lacks ReadBalances.', 403);
    const a = accountOf(c, req);
    bank.countAccess(c, `balances:${a.id}`, psuPresent(req));
    res.json(wrap({ Balance: ukBalances(a) }, `${ais}/accounts/${a.id}/balances`, { TotalPages: 1 }));
  });

  api.get(`${aisPath}/balances`, async (req, res) => {
    const c = await dataConsent(req);
    if (!has(c, 'ReadBalances')) throw new BankError('CONSENT_INVALID', 'The consent lacks ReadBalances.', 403);
    bank.countAccess(c, 'balances:*', psuPresent(req));
    res.json(wrap({ Balance: bank.consentAccounts(c, 'accounts').flatMap(ukBalances) }, `${ais}/balances`, { TotalPages: 1 }));
  });

  const dateTimeParam = (req: Request, name: string): string | undefined => {
    const v = queryString(req, name);
    if (v === undefined) return undefined;
    if (!ISO_DT.test(v) && !/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new BankError('PERIOD_INVALID', `${name} must be an ISO date-time.`, 400, { path: name });
    return v.slice(0, 10);
  };

  const transactionBody = (c: AisConsent, t: LedgerTransaction) => {
    const detail = has(c, 'ReadTransactionsDetail');
    const [, family, sub] = t.bankTransactionCode.split('-');
    const other = t.counterpartyIban
      ? { SchemeName: 'UK.OBIE.IBAN', Identification: t.counterpartyIban, ...(t.counterpartyName ? { Name: t.counterpartyName } : {}) }
      : undefined;
    return {
      AccountId: t.accountId,
      ...(t.id ? { TransactionId: t.id } : {}),
      ...(t.structuredReference || t.endToEndId ? { TransactionReference: t.structuredReference ?? t.endToEndId } : {}),
      CreditDebitIndicator: t.amountCents < 0 ? 'Debit' : 'Credit',
      Status: t.status === 'booked' ? 'Booked' : 'Pending',
      BookingDateTime: `${t.bookingDate}T00:00:00+00:00`,
      ValueDateTime: `${t.valueDate}T00:00:00+00:00`,
      Amount: { Amount: formatCents(Math.abs(t.amountCents)), Currency: t.currency },
      BankTransactionCode: { Code: family, SubCode: sub },
      ...(detail && t.remittance ? { TransactionInformation: t.remittance.slice(0, 500) } : {}),
      ...(detail && t.merchantCategoryCode && t.counterpartyName
        ? { MerchantDetails: { MerchantName: t.counterpartyName.slice(0, 350), MerchantCategoryCode: t.merchantCategoryCode } }
        : {}),
      ...(detail && other ? (t.amountCents < 0 ? { CreditorAccount: other } : { DebtorAccount: other }) : {}),
    };
  };

  api.get(`${aisPath}/accounts/:accountId/transactions`, async (req, res) => {
    const c = await dataConsent(req);
    if (!has(c, 'ReadTransactionsBasic', 'ReadTransactionsDetail'))
      throw new BankError('CONSENT_INVALID', 'The consent lacks ReadTransactions permissions.', 403);
    const a = accountOf(c, req);
    let from = dateTimeParam(req, 'fromBookingDateTime');
    let to = dateTimeParam(req, 'toBookingDateTime');
    const windowFrom = typeof c.extra.transactionFrom === 'string' ? c.extra.transactionFrom.slice(0, 10) : undefined;
    const windowTo = typeof c.extra.transactionTo === 'string' ? c.extra.transactionTo.slice(0, 10) : undefined;
    if (windowFrom && (!from || from < windowFrom)) from = windowFrom;
    if (windowTo && (!to || to > windowTo)) to = windowTo;
    const page = pageParam(req);
    if (page === 0) bank.countAccess(c, `transactions:${a.id}`, psuPresent(req));
    const result = transactionPage(bank, req, a, { dateFrom: from, dateTo: to, status: 'both' }, page);
    const credits = has(c, 'ReadTransactionsCredits');
    const debits = has(c, 'ReadTransactionsDebits');
    const items = result.items.filter((t) => (!credits && !debits) || (credits && t.amountCents > 0) || (debits && t.amountCents < 0));
    const links: Record<string, string> = {
      Self: linkWith(base, req, {}),
      First: linkWith(base, req, { page: undefined }),
      Last: linkWith(base, req, { page: result.lastPage || undefined }),
    };
    if (page < result.lastPage) links.Next = linkWith(base, req, { page: page + 1 });
    if (page > 0) links.Prev = linkWith(base, req, { page: page - 1 || undefined });
    res.json({
      Data: { Transaction: items.map((t) => transactionBody(c, t)) },
      Links: links,
      Meta: {
        TotalPages: result.lastPage + 1,
        FirstAvailableDateTime: `${addDays(new Date(bank.ctx.startMs).toISOString().slice(0, 10), -730)}T00:00:00+00:00`,
        LastAvailableDateTime: dt(bank.clock.nowMs()),
      },
    });
  });

  // ----- domestic payments ----------------------------------------------------------------

  /** x-idempotency-key → body hash and the resource it created, per client. */
  const idempotency = new Map<string, { hash: string; id: string }>();
  const idempotent = (req: Request, clientId: string, create: () => string): { id: string; replay: boolean } => {
    const key = req.get('x-idempotency-key');
    if (!key || key.length > 40)
      throw new BankError('FORMAT_ERROR', 'x-idempotency-key is required (at most 40 characters).', 400, { path: 'x-idempotency-key' });
    const hash = createHash('sha256')
      .update(JSON.stringify(req.body ?? {}))
      .digest('hex');
    const seen = idempotency.get(`${clientId}|${req.path}|${key}`);
    if (seen) {
      if (seen.hash !== hash)
        throw new BankError('DUPLICATE_REQUEST', 'This x-idempotency-key was used with a different body.', 400, { path: 'x-idempotency-key' });
      return { id: seen.id, replay: true };
    }
    const id = create();
    idempotency.set(`${clientId}|${req.path}|${key}`, { hash, id });
    return { id, replay: false };
  };

  const readInitiation = (initiation: unknown) => {
    const i = initiation as Record<string, unknown> | undefined;
    if (!i || typeof i !== 'object') throw new BankError('FORMAT_ERROR', 'Data.Initiation is required.', 400, { path: 'Data.Initiation' });
    const amount = i.InstructedAmount as { Amount?: unknown; Currency?: unknown } | undefined;
    const cents = parseAmount(amount?.Amount);
    if (cents === undefined || cents <= 0)
      throw new BankError('FORMAT_ERROR', 'InstructedAmount.Amount must be a positive amount.', 400, { path: 'Data.Initiation.InstructedAmount.Amount' });
    if (amount?.Currency !== 'GBP')
      throw new BankError('FORMAT_ERROR', 'Domestic payments are in GBP.', 400, { path: 'Data.Initiation.InstructedAmount.Currency' });
    const creditor = i.CreditorAccount as { SchemeName?: unknown; Identification?: unknown; Name?: unknown } | undefined;
    if (creditor?.SchemeName !== 'UK.OBIE.SortCodeAccountNumber' || typeof creditor.Identification !== 'string' || !/^\d{14}$/.test(creditor.Identification)) {
      throw new BankError('FORMAT_ERROR', 'CreditorAccount must be UK.OBIE.SortCodeAccountNumber with 14 digits.', 400, {
        path: 'Data.Initiation.CreditorAccount',
      });
    }
    if (typeof creditor.Name !== 'string' || !creditor.Name.trim())
      throw new BankError('FORMAT_ERROR', 'CreditorAccount.Name is required.', 400, { path: 'Data.Initiation.CreditorAccount.Name' });
    if (typeof i.InstructionIdentification !== 'string' || typeof i.EndToEndIdentification !== 'string') {
      throw new BankError('FORMAT_ERROR', 'InstructionIdentification and EndToEndIdentification are required.', 400, { path: 'Data.Initiation' });
    }
    const remittance = i.RemittanceInformation as { Unstructured?: unknown; Reference?: unknown } | undefined;
    return { i, cents, creditor: creditor as { SchemeName: string; Identification: string; Name: string }, remittance };
  };

  const paymentConsentData = (p: Payment) => ({
    ConsentId: p.id,
    CreationDateTime: dt(p.createdAtMs),
    // A consent the PSU approved stays Authorised even when the payment will fail its funds check
    // (AM04): the rejection shows on the domestic payment, as at a UK bank.
    Status: p.extra.domesticPaymentId ? 'Consumed' : p.authorisedAtMs !== undefined ? 'Authorised' : p.rejected ? 'Rejected' : 'AwaitingAuthorisation',
    StatusUpdateDateTime: dt(p.authorisedAtMs ?? p.createdAtMs),
    Initiation: (p.request as { Data: { Initiation: unknown } }).Data.Initiation,
  });

  api.post(`${pisPath}/domestic-payment-consents`, async (req, res) => {
    const token = await clientToken(req, 'payments');
    if (!(await requireSignature(req, res))) return;
    const { id } = idempotent(req, token.clientId, () => {
      const data = (req.body as { Data?: Record<string, unknown> } | undefined)?.Data;
      const { cents, creditor, remittance, i } = readInitiation(data?.Initiation);
      const p: Payment = {
        id: `pdc-${bank.newId()}`,
        product: 'domestic-payments',
        clientId: token.clientId,
        amountCents: cents,
        currency: 'GBP',
        creditorName: creditor.Name,
        creditorAccount: creditor,
        remittance:
          typeof remittance?.Unstructured === 'string' ? remittance.Unstructured : typeof remittance?.Reference === 'string' ? remittance.Reference : undefined,
        endToEndId: String(i.EndToEndIdentification),
        createdAtMs: bank.clock.nowMs(),
        approach: 'REDIRECT',
        authorisations: [],
        request: req.body,
        extra: {},
      };
      bank.payments.set(p.id, p);
      return p.id;
    });
    const p = bank.payments.get(id)!;
    res.status(201).json({ ...wrap(paymentConsentData(p), `${pis}/domestic-payment-consents/${p.id}`), Risk: (req.body as { Risk?: unknown }).Risk ?? {} });
  });

  api.get(`${pisPath}/domestic-payment-consents/:consentId`, async (req, res) => {
    const token = await clientToken(req, 'payments');
    const p = bank.payments.get(String(req.params.consentId));
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown consent.', 400, { path: 'ConsentId' });
    res.json({ ...wrap(paymentConsentData(p), `${pis}/domestic-payment-consents/${p.id}`), Risk: (p.request as { Risk?: unknown }).Risk ?? {} });
  });

  const domesticData = (p: Payment) => {
    const status = bank.paymentStatus(p);
    return {
      DomesticPaymentId: String(p.extra.domesticPaymentId),
      ConsentId: p.id,
      CreationDateTime: dt(p.executionStartedAtMs ?? p.createdAtMs),
      Status: UK_PAYMENT_STATUS[status],
      StatusUpdateDateTime: dt(p.rejected?.atMs ?? bank.clock.nowMs()),
      Initiation: (p.request as { Data: { Initiation: unknown } }).Data.Initiation,
    };
  };

  api.post(`${pisPath}/domestic-payments`, async (req, res) => {
    const token = await userToken(req);
    if (!(await requireSignature(req, res))) return;
    const data = (req.body as { Data?: Record<string, unknown> } | undefined)?.Data;
    const consentId = data?.ConsentId;
    if (typeof consentId !== 'string') throw new BankError('FORMAT_ERROR', 'Data.ConsentId is required.', 400, { path: 'Data.ConsentId' });
    if (token.link?.paymentId !== consentId)
      throw new BankError('CONSENT_INVALID', 'The token was not issued for this payment consent.', 403, { path: 'Data.ConsentId' });
    const p = bank.payments.get(consentId);
    if (!p) throw new BankError('CONSENT_UNKNOWN', 'Unknown consent.', 400, { path: 'Data.ConsentId' });
    const { id } = idempotent(req, token.clientId, () => {
      if (JSON.stringify(data?.Initiation) !== JSON.stringify((p.request as { Data: { Initiation: unknown } }).Data.Initiation)) {
        throw new BankError('FORMAT_ERROR', 'Data.Initiation does not match the consent.', 400, { path: 'Data.Initiation' });
      }
      if (p.authorisedAtMs === undefined || p.extra.domesticPaymentId) throw new BankError('CONSENT_INVALID', 'The consent is not in status Authorised.', 403);
      p.extra.domesticPaymentId = `dp-${bank.newId()}`;
      if (!p.rejected) p.executionStartedAtMs = bank.clock.nowMs();
      return p.id;
    });
    const payment = bank.payments.get(id)!;
    res.status(201).json(wrap(domesticData(payment), `${pis}/domestic-payments/${String(payment.extra.domesticPaymentId)}`));
  });

  /**
   * Payment details (3.1.4+): the status as the payment rail reports it. A rejection's ISO 20022
   * reason (`AM04`, `AC04`…) leads `StatusReasonDescription`, the only free field the standard has.
   */
  api.get(`${pisPath}/domestic-payments/:paymentId/payment-details`, async (req: Request, res: Response) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    const p = [...bank.payments.values()].find((x) => x.extra.domesticPaymentId === req.params.paymentId);
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment.', 400, { path: 'DomesticPaymentId' });
    const status = bank.paymentStatus(p);
    const rejected = status === 'RJCT' && p.rejected;
    res.json({
      Data: {
        PaymentStatus: [
          {
            PaymentTransactionId: String(p.extra.domesticPaymentId),
            Status: UK_PAYMENT_STATUS[status],
            StatusUpdateDateTime: dt(p.rejected?.atMs ?? bank.clock.nowMs()),
            StatusDetail: {
              LocalInstrument: 'UK.OBIE.FPS',
              Status: status,
              ...(rejected ? { StatusReason: 'ProprietaryRejection', StatusReasonDescription: `${p.rejected!.reason}: rejected by the bank` } : {}),
            },
          },
        ],
      },
      Links: { Self: `${pis}/domestic-payments/${String(p.extra.domesticPaymentId)}/payment-details` },
      Meta: {},
    });
  });

  api.get(`${pisPath}/domestic-payments/:paymentId`, async (req: Request, res: Response) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    const p = [...bank.payments.values()].find((x) => x.extra.domesticPaymentId === req.params.paymentId);
    if (!p || p.clientId !== token.clientId) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment.', 400, { path: 'DomesticPaymentId' });
    res.json(wrap(domesticData(p), `${pis}/domestic-payments/${String(p.extra.domesticPaymentId)}`));
  });
}
