import type { Request, Response } from 'express';
import { MAGIC, type Bank } from '../../core/bank';
import { BankError, type BankErrorCode, type Dialect } from '../../core/errors';
import { isValidIban } from '../../core/iban';
import { balancesOf, formatCents, parseAmount, type LedgerAccount, type LedgerTransaction } from '../../core/ledger';
import { startScaSession } from '../../core/sca';
import type { AisConsent, Payment, ScaApproach } from '../../core/state';
import { OpenApiSpec } from '../../core/openapi';
import { strictRequests } from '../strict';
import { dateParam, linkWith, pageParam, queryString, transactionPage, UUID_RE } from '../common';

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

const BG_CONSENT_STATUS: Record<AisConsent['status'], string> = {
  received: 'received',
  valid: 'valid',
  rejected: 'rejected',
  expired: 'expired',
  revoked: 'revokedByPsu',
  terminatedByTpp: 'terminatedByTpp',
};

const PAYMENT_PRODUCTS = ['sepa-credit-transfers', 'instant-sepa-credit-transfers'];

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
  const base = bank.info.apiBaseUrl;
  const ais = bank.info.aisBaseUrl;

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

  /** Picks the SCA approach from the TPP's headers and the bank's capabilities. */
  const approachFor = (req: Request): ScaApproach => {
    const supports = (a: ScaApproach) => bank.def.scaApproaches.includes(a);
    if (supports('DECOUPLED') && (req.get('tpp-decoupled-preferred') === 'true' || !supports('REDIRECT'))) return 'DECOUPLED';
    if (req.get('tpp-redirect-uri') && supports('REDIRECT') && req.get('tpp-redirect-preferred') !== 'false') return 'REDIRECT';
    if (supports('OAUTH')) return 'OAUTH';
    if (supports('REDIRECT')) throw new BankError('FORMAT_ERROR', 'TPP-Redirect-URI is required by this bank.', 400, { path: 'TPP-Redirect-URI' });
    return 'DECOUPLED';
  };

  /** Starts SCA for a new consent or payment and returns the links the TPP follows. */
  const startSca = (req: Request, holder: AisConsent | Payment, target: { consentId?: string; paymentId?: string }, selfHref: string) => {
    const links: Record<string, { href: string }> = { self: { href: selfHref }, status: { href: `${selfHref}/status` } };
    let psuMessage: string | undefined;
    if (holder.approach === 'OAUTH') {
      links.scaOAuth = { href: `${bank.info.issuer}/.well-known/openid-configuration` };
      return { links, psuMessage };
    }
    const psuId = req.get('psu-id');
    if (holder.approach === 'DECOUPLED' && !psuId)
      throw new BankError('FORMAT_ERROR', 'PSU-ID is required for the decoupled approach.', 400, { path: 'PSU-ID' });
    const { session, url } = startScaSession(bank, {
      mode: holder.approach === 'DECOUPLED' ? 'decoupled' : 'redirect',
      target,
      expectedUser: psuId?.toLowerCase(),
      okRedirect: holder.tppRedirectUri,
      nokRedirect: holder.tppNokRedirectUri,
    });
    const authorisation = { id: bank.newId(), scaStatus: 'received' as const, sessionId: session.id };
    holder.authorisations.push(authorisation);
    links.scaStatus = { href: `${selfHref}/authorisations/${authorisation.id}` };
    if (holder.approach === 'REDIRECT') links.scaRedirect = { href: url };
    else psuMessage = `Please confirm this request in your ${bank.info.name} app.`;
    return { links, psuMessage };
  };

  const bearerLink = async (req: Request) => {
    const token = await bank.bearer(req);
    if (token && token.kind !== 'user') throw new BankError('TOKEN_INVALID', 'A PSU access token is required.');
    return token;
  };

  // ----- consents ---------------------------------------------------------------------------

  const getConsent = (req: Request): AisConsent => {
    const c = bank.consents.get(String(req.params.consentId));
    if (!c) throw new BankError('CONSENT_UNKNOWN', 'The consent is unknown to this bank.', 403);
    return bank.refreshConsent(c);
  };

  api.post('/v1/consents', (req: Request, res: Response) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    const access = body.access as Record<string, unknown> | undefined;
    if (!access || typeof access !== 'object') throw new BankError('FORMAT_ERROR', 'access is required.', 400, { path: 'access' });
    const ibans = (key: string): string[] | undefined => {
      const list = access[key];
      if (list === undefined) return undefined;
      if (!Array.isArray(list)) throw new BankError('FORMAT_ERROR', `access.${key} must be an array.`, 400, { path: `access.${key}` });
      return list.map((ref, i) => {
        const { iban, maskedPan } = (ref ?? {}) as { iban?: unknown; maskedPan?: unknown };
        // Card accounts are referenced by their masked PAN.
        if (iban === undefined && typeof maskedPan === 'string' && /^[0-9*]{12,19}$/.test(maskedPan)) return maskedPan;
        if (!isValidIban(iban)) throw new BankError('FORMAT_ERROR', `access.${key}[${i}].iban is not a valid IBAN.`, 400, { path: `access.${key}[${i}].iban` });
        return iban.replace(/\s+/g, '').toUpperCase();
      });
    };
    const accounts = ibans('accounts');
    const balances = ibans('balances');
    const transactions = ibans('transactions');
    const allPsd2 = access.allPsd2 === 'allAccounts';
    const listOnly =
      access.availableAccountsWithBalance === 'allAccounts' ? 'withBalance' : access.availableAccounts === 'allAccounts' ? 'accounts' : undefined;
    if (!accounts && !balances && !transactions && !allPsd2 && !listOnly) {
      throw new BankError('FORMAT_ERROR', 'access must list accounts, balances or transactions, or ask for allPsd2.', 400, { path: 'access' });
    }
    if (typeof body.recurringIndicator !== 'boolean')
      throw new BankError('FORMAT_ERROR', 'recurringIndicator is required.', 400, { path: 'recurringIndicator' });
    if (typeof body.validUntil !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(body.validUntil))
      throw new BankError('FORMAT_ERROR', 'validUntil must be a date.', 400, { path: 'validUntil' });
    const freq = body.frequencyPerDay;
    if (typeof freq !== 'number' || !Number.isInteger(freq) || freq < 1)
      throw new BankError('FORMAT_ERROR', 'frequencyPerDay must be a positive integer.', 400, { path: 'frequencyPerDay' });
    if (body.validUntil < bank.clock.today()) throw new BankError('PERIOD_INVALID', 'validUntil is in the past.', 400, { path: 'validUntil' });
    const now = bank.clock.nowMs();
    const consent: AisConsent = {
      id: bank.newId(),
      status: 'received',
      psuId: req.get('psu-id')?.toLowerCase(),
      // Empty lists ask for a bank-offered consent: the PSU picks at the bank (here: all accounts).
      // `accounts` alone grants account details only: balances and transactions need their own lists.
      access:
        allPsd2 && !accounts && !balances && !transactions
          ? { allPsd2: true }
          : listOnly && !accounts && !balances && !transactions
            ? { listOnly }
            : [accounts, balances, transactions].every((l) => !l || l.length === 0)
              ? { bankOffered: true }
              : { accounts: accounts ?? [], balances: balances ?? [], transactions: transactions ?? [] },
      recurringIndicator: body.recurringIndicator,
      frequencyPerDay: body.recurringIndicator ? Math.min(freq, bank.def.frequencyPerDay) : 1,
      validUntil: bank.clampValidUntil(body.validUntil),
      createdAtMs: now,
      statusUpdatedAtMs: now,
      approach: approachFor(req),
      tppRedirectUri: req.get('tpp-redirect-uri'),
      tppNokRedirectUri: req.get('tpp-nok-redirect-uri'),
      authorisations: [],
      extra: { lastActionDate: bank.clock.today() },
    };
    bank.consents.set(consent.id, consent);
    const self = `${ais}/v1/consents/${consent.id}`;
    const { links, psuMessage } = startSca(req, consent, { consentId: consent.id }, self);
    res
      .status(201)
      .set({ Location: self, 'ASPSP-SCA-Approach': consent.approach })
      .json({
        consentStatus: 'received',
        consentId: consent.id,
        _links: links,
        ...(psuMessage ? { psuMessage } : {}),
      });
  });

  const ref = (id: string) => (id.includes('*') ? { maskedPan: id } : { iban: id });
  const consentBody = (c: AisConsent) => ({
    access: c.access.allPsd2
      ? { allPsd2: 'allAccounts' }
      : c.access.listOnly
        ? c.access.listOnly === 'withBalance'
          ? { availableAccountsWithBalance: 'allAccounts' }
          : { availableAccounts: 'allAccounts' }
        : c.access.bankOffered
          ? (() => {
              const ibans = c.userId ? bank.accountsOf(c.userId).map((a) => (a.kind === 'card' ? { maskedPan: a.maskedPan! } : { iban: a.iban })) : [];
              return { accounts: ibans, balances: ibans, transactions: ibans };
            })()
          : {
              accounts: (c.access.accounts ?? []).map(ref),
              ...(c.access.balances ? { balances: c.access.balances.map(ref) } : {}),
              ...(c.access.transactions ? { transactions: c.access.transactions.map(ref) } : {}),
            },
    recurringIndicator: c.recurringIndicator,
    validUntil: c.validUntil,
    frequencyPerDay: c.frequencyPerDay,
    lastActionDate: String(c.extra.lastActionDate ?? bank.clock.today()),
    consentStatus: BG_CONSENT_STATUS[c.status],
    _links: { status: { href: `${ais}/v1/consents/${c.id}/status` } },
  });

  api.get('/v1/consents/:consentId', (req, res) => {
    res.json(consentBody(getConsent(req)));
  });
  api.get('/v1/consents/:consentId/status', (req, res) => {
    res.json({ consentStatus: BG_CONSENT_STATUS[getConsent(req).status] });
  });
  api.delete('/v1/consents/:consentId', (req, res) => {
    const c = getConsent(req);
    c.status = 'terminatedByTpp';
    c.statusUpdatedAtMs = bank.clock.nowMs();
    res.status(204).end();
  });
  /** Explicit start of another authorisation (after a failed one, or when the TPP prefers it). */
  const startAuthorisation = (req: Request, res: Response, holder: AisConsent | Payment, target: { consentId?: string; paymentId?: string }, self: string) => {
    const open =
      'validUntil' in holder ? holder.status === 'received' : holder.authorisedAtMs === undefined && !holder.rejected && holder.cancelledAtMs === undefined;
    if (!open) throw new BankError('STATUS_INVALID', 'This resource needs no further authorisation.', 409);
    if (holder.approach === 'OAUTH') {
      const authorisation = { id: bank.newId(), scaStatus: 'received' as const, sessionId: '' };
      holder.authorisations.push(authorisation);
      return res.status(201).json({
        scaStatus: 'received',
        authorisationId: authorisation.id,
        _links: {
          scaOAuth: { href: `${bank.info.issuer}/.well-known/openid-configuration` },
          scaStatus: { href: `${self}/authorisations/${authorisation.id}` },
        },
      });
    }
    const before = holder.authorisations.length;
    const { links, psuMessage } = startSca(req, holder, target, self);
    const authorisation = holder.authorisations[before];
    res.status(201).json({
      scaStatus: 'received',
      authorisationId: authorisation.id,
      _links: { ...(links.scaRedirect ? { scaRedirect: links.scaRedirect } : {}), scaStatus: links.scaStatus },
      ...(psuMessage ? { psuMessage } : {}),
    });
  };
  api.post('/v1/consents/:consentId/authorisations', (req, res) => {
    const c = getConsent(req);
    startAuthorisation(req, res, c, { consentId: c.id }, `${ais}/v1/consents/${c.id}`);
  });
  api.get('/v1/consents/:consentId/authorisations', (req, res) => {
    res.json({ authorisationIds: getConsent(req).authorisations.map((a) => a.id) });
  });
  api.get('/v1/consents/:consentId/authorisations/:authorisationId', (req, res) => {
    const a = getConsent(req).authorisations.find((x) => x.id === req.params.authorisationId);
    if (!a) throw new BankError('RESOURCE_UNKNOWN', 'Unknown authorisation.', 403);
    res.json({ scaStatus: a.scaStatus });
  });

  // ----- account information ---------------------------------------------------------------

  /** The consent behind a data request (Consent-ID header, and the token when one is sent). */
  const dataConsent = async (req: Request): Promise<AisConsent> => {
    const consentId = req.get('consent-id');
    if (!consentId) throw new BankError('FORMAT_ERROR', 'The Consent-ID header is required.', 400, { path: 'Consent-ID' });
    const token = await bearerLink(req);
    const consent = bank.requireUsableConsent(bank.consents.get(consentId));
    if (token && token.link?.consentId !== consentId) throw new BankError('CONSENT_INVALID', 'The access token was not issued for this consent.', 401);
    if (!token && consent.approach === 'OAUTH') throw new BankError('TOKEN_INVALID', 'This consent was authorised with OAuth: send its access token.', 401);
    consent.extra.lastActionDate = bank.clock.today();
    return consent;
  };
  const psuPresent = (req: Request) => !!req.get('psu-ip-address');

  const accountOf = (consent: AisConsent, req: Request, service: 'accounts' | 'balances' | 'transactions', card = false): LedgerAccount => {
    const id = String(req.params.accountId);
    const account = bank.consentAccounts(consent, service).find((a) => a.id === id && (a.kind === 'card') === card);
    if (!account) {
      if (bank.findAccount(id) && bank.findAccount(id)?.owner === consent.userId)
        throw new BankError('CONSENT_INVALID', `The consent does not cover ${service} of this account.`, 401);
      throw new BankError('RESOURCE_UNKNOWN', 'Unknown account.', 404);
    }
    return account;
  };

  const balanceList = (a: LedgerAccount) => {
    const { bookedCents, expectedCents } = balancesOf(a);
    const day = bank.clock.today();
    return [
      { balanceAmount: { currency: a.currency, amount: formatCents(bookedCents) }, balanceType: 'closingBooked', referenceDate: day },
      {
        balanceAmount: { currency: a.currency, amount: formatCents(expectedCents) },
        balanceType: 'expected',
        lastChangeDateTime: bank.clock.now().toISOString(),
      },
    ];
  };

  const accountDetails = (a: LedgerAccount, withBalance: boolean) => ({
    resourceId: a.id,
    iban: a.iban,
    currency: a.currency,
    name: a.name,
    product: a.product,
    ownerName: a.ownerName,
    cashAccountType: a.kind === 'savings' ? 'SVGS' : 'CACC',
    status: 'enabled',
    bic: bank.info.bic,
    usage: a.kind === 'business' ? 'ORGA' : 'PRIV',
    ...(withBalance ? { balances: balanceList(a) } : {}),
    _links: {
      balances: { href: `${ais}/v1/accounts/${a.id}/balances` },
      transactions: { href: `${ais}/v1/accounts/${a.id}/transactions` },
    },
  });

  api.get('/v1/accounts', async (req, res) => {
    const consent = await dataConsent(req);
    bank.countAccess(consent, 'accounts', psuPresent(req));
    const withBalance = queryString(req, 'withBalance') === 'true';
    const list = bank.consentAccounts(consent, 'accounts').filter((a) => a.kind !== 'card');
    res.json({ accounts: list.map((a) => accountDetails(a, withBalance && bank.consentAccounts(consent, 'balances').includes(a))) });
  });

  api.get('/v1/accounts/:accountId', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'accounts');
    bank.countAccess(consent, `account:${a.id}`, psuPresent(req));
    res.json({ account: accountDetails(a, queryString(req, 'withBalance') === 'true') });
  });

  api.get('/v1/accounts/:accountId/balances', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'balances');
    bank.countAccess(consent, `balances:${a.id}`, psuPresent(req));
    res.json({ account: { iban: a.iban, currency: a.currency }, balances: balanceList(a) });
  });

  const transactionBody = (t: LedgerTransaction) => {
    const amount = { currency: t.currency, amount: formatCents(t.amountCents) };
    const party =
      t.amountCents < 0
        ? {
            ...(t.counterpartyName ? { creditorName: t.counterpartyName } : {}),
            ...(t.counterpartyIban ? { creditorAccount: { iban: t.counterpartyIban } } : {}),
          }
        : { ...(t.counterpartyName ? { debtorName: t.counterpartyName } : {}), ...(t.counterpartyIban ? { debtorAccount: { iban: t.counterpartyIban } } : {}) };
    return {
      ...(t.id ? { transactionId: t.id, entryReference: t.id.slice(0, 35) } : {}),
      ...(t.endToEndId ? { endToEndId: t.endToEndId } : {}),
      ...(t.mandateId ? { mandateId: t.mandateId } : {}),
      ...(t.status === 'booked' ? { bookingDate: t.bookingDate } : {}),
      valueDate: t.valueDate,
      transactionAmount: amount,
      ...party,
      ...(t.remittance ? { remittanceInformationUnstructured: t.remittance.slice(0, 140) } : {}),
      ...(t.structuredReference ? { remittanceInformationStructured: { reference: t.structuredReference, referenceType: 'SCOR' } } : {}),
      bankTransactionCode: t.bankTransactionCode,
    };
  };

  api.get('/v1/accounts/:accountId/transactions', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions');
    const bookingStatus = queryString(req, 'bookingStatus');
    if (!bookingStatus) throw new BankError('FORMAT_ERROR', 'bookingStatus is required (booked, pending or both).', 400, { path: 'bookingStatus' });
    if (!['booked', 'pending', 'both'].includes(bookingStatus)) {
      throw new BankError('PARAMETER_NOT_SUPPORTED', `bookingStatus ${bookingStatus} is not supported.`, 400, { path: 'bookingStatus' });
    }
    const dateFrom = dateParam(req, 'dateFrom');
    const dateTo = dateParam(req, 'dateTo');
    if (!dateFrom) throw new BankError('FORMAT_ERROR', 'dateFrom is required.', 400, { path: 'dateFrom' });
    if (dateTo && dateTo < dateFrom) throw new BankError('PERIOD_INVALID', 'dateTo is before dateFrom.', 400, { path: 'dateTo' });
    const page = pageParam(req);
    // Only the first page of a listing counts against the daily budget.
    if (page === 0) bank.countAccess(consent, `transactions:${a.id}`, psuPresent(req));
    if (bank.transactionReports !== 'list') {
      // A bank that offers the report only as a file: a link to it, and no list (1.3.12 `_linksDownload`).
      const id = bank.newId();
      downloads.set(id, {
        consentId: consent.id,
        accountId: a.id,
        query: { dateFrom, dateTo, status: bookingStatus as 'booked' | 'pending' | 'both' },
        format: bank.transactionReports,
      });
      res.json({ account: { iban: a.iban, currency: a.currency }, _links: { download: { href: `${bank.baseUrl}/report-files/${a.id}/${id}` } } });
      return;
    }
    const result = transactionPage(bank, req, a, { dateFrom, dateTo, status: bookingStatus as 'booked' | 'pending' | 'both' }, page);
    const booked = result.items.filter((t) => t.status === 'booked').map(transactionBody);
    const pending = result.items.filter((t) => t.status === 'pending').map(transactionBody);
    const links: Record<string, { href: string }> = {
      account: { href: `${ais}/v1/accounts/${a.id}` },
      first: { href: linkWith(base, req, { page: undefined }) },
      last: { href: linkWith(base, req, { page: result.lastPage || undefined }) },
    };
    if (page < result.lastPage) links.next = { href: linkWith(base, req, { page: page + 1 }) };
    if (page > 0) links.previous = { href: linkWith(base, req, { page: page - 1 || undefined }) };
    // withBalance=true: the balances come with the list (when the consent grants them), in the same call.
    const withBalance = queryString(req, 'withBalance') === 'true' && bank.consentAccounts(consent, 'balances').includes(a);
    res.json({
      account: { iban: a.iban, currency: a.currency },
      transactions: {
        ...(bookingStatus !== 'pending' ? { booked } : {}),
        ...(bookingStatus !== 'booked' ? { pending } : {}),
        _links: links,
      },
      ...(withBalance ? { balances: balanceList(a) } : {}),
    });
  });

  /** Report files a download link names: the listing asked for, whole, in the format of the moment. */
  const downloads = new Map<
    string,
    {
      consentId: string;
      accountId: string;
      query: { dateFrom: string; dateTo: string | undefined; status: 'booked' | 'pending' | 'both' };
      format: 'download' | 'camt';
    }
  >();

  // Beside the API (the file declares no operation for it), like a bank's file server; the same consent and token apply.
  bank.published.get(
    '/report-files/:accountId/:downloadId',
    (req, res) =>
      void serveDownload(req, res).catch((err: unknown) => {
        if (err instanceof BankError) return bank.dialect.sendError(req, res, err.status, err.code, err.message, err.detail);
        bank.log.error({ err }, 'sandbox bank error');
        bank.dialect.sendError(req, res, 500, 'INTERNAL_SERVER_ERROR', 'Unexpected error in the sandbox bank.');
      }),
  );
  const serveDownload = async (req: Request, res: Response) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions');
    const file = downloads.get(String(req.params.downloadId));
    if (!file || file.consentId !== consent.id || file.accountId !== a.id) throw new BankError('RESOURCE_UNKNOWN', 'Unknown download.', 404);
    const all = transactionPage(bank, req, a, file.query, 0);
    const items =
      all.total > all.items.length ? [...Array(all.lastPage + 1).keys()].flatMap((p) => transactionPage(bank, req, a, file.query, p).items) : all.items;
    if (file.format === 'camt') {
      // What most banks put behind the link: an ISO 20022 camt.052 account report.
      res
        .type('application/xml')
        .send(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"><BkToCstmrAcctRpt><GrpHdr><MsgId>${req.params.downloadId}</MsgId></GrpHdr><Rpt><Acct><Id><IBAN>${a.iban}</IBAN></Id></Acct>${items
            .map(
              (t) =>
                `<Ntry><Amt Ccy="${a.currency}">${formatCents(Math.abs(t.amountCents))}</Amt><CdtDbtInd>${t.amountCents < 0 ? 'DBIT' : 'CRDT'}</CdtDbtInd></Ntry>`,
            )
            .join('')}</Rpt></BkToCstmrAcctRpt></Document>`,
        );
      return;
    }
    res.json({
      account: { iban: a.iban, currency: a.currency },
      transactions: {
        ...(file.query.status !== 'pending' ? { booked: items.filter((t) => t.status === 'booked').map(transactionBody) } : {}),
        ...(file.query.status !== 'booked' ? { pending: items.filter((t) => t.status === 'pending').map(transactionBody) } : {}),
      },
    });
  };

  api.get('/v1/accounts/:accountId/transactions/:transactionId', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions');
    const t = a.transactions.find((x) => x.id === req.params.transactionId);
    if (!t) throw new BankError('RESOURCE_UNKNOWN', 'Unknown transaction.', 404);
    bank.countAccess(consent, `transactions:${a.id}`, psuPresent(req));
    res.json({ transactionsDetails: transactionBody(t) });
  });

  // ----- card accounts --------------------------------------------------------------------

  const cardDetails = (a: LedgerAccount, withBalance: boolean) => ({
    resourceId: a.id,
    maskedPan: a.maskedPan!,
    currency: a.currency,
    ownerName: a.ownerName,
    name: a.name,
    product: a.product,
    status: 'enabled',
    usage: 'PRIV',
    creditLimit: { currency: a.currency, amount: '3000.00' },
    ...(withBalance ? { balances: balanceList(a) } : {}),
    _links: {
      balances: { href: `${ais}/v1/card-accounts/${a.id}/balances` },
      transactions: { href: `${ais}/v1/card-accounts/${a.id}/transactions` },
    },
  });

  api.get('/v1/card-accounts', async (req, res) => {
    const consent = await dataConsent(req);
    bank.countAccess(consent, 'card-accounts', psuPresent(req));
    const cards = bank.consentAccounts(consent, 'accounts').filter((a) => a.kind === 'card');
    res.json({ cardAccounts: cards.map((a) => cardDetails(a, false)) });
  });
  api.get('/v1/card-accounts/:accountId', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'accounts', true);
    bank.countAccess(consent, `card-account:${a.id}`, psuPresent(req));
    res.json({ cardAccount: cardDetails(a, queryString(req, 'withBalance') === 'true') });
  });
  api.get('/v1/card-accounts/:accountId/balances', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'balances', true);
    bank.countAccess(consent, `balances:${a.id}`, psuPresent(req));
    res.json({ cardAccount: { maskedPan: a.maskedPan }, balances: balanceList(a) });
  });
  api.get('/v1/card-accounts/:accountId/transactions', async (req, res) => {
    const consent = await dataConsent(req);
    const a = accountOf(consent, req, 'transactions', true);
    const bookingStatus = queryString(req, 'bookingStatus');
    if (!bookingStatus || !['booked', 'pending', 'both'].includes(bookingStatus)) {
      throw new BankError('FORMAT_ERROR', 'bookingStatus is required (booked, pending or both).', 400, { path: 'bookingStatus' });
    }
    const dateFrom = dateParam(req, 'dateFrom');
    const dateTo = dateParam(req, 'dateTo');
    if (!dateFrom) throw new BankError('FORMAT_ERROR', 'dateFrom is required.', 400, { path: 'dateFrom' });
    const page = pageParam(req);
    if (page === 0) bank.countAccess(consent, `transactions:${a.id}`, psuPresent(req));
    const result = transactionPage(bank, req, a, { dateFrom, dateTo, status: bookingStatus as 'booked' | 'pending' | 'both' }, page);
    const card = (t: LedgerTransaction) => ({
      ...(t.id ? { cardTransactionId: t.id } : {}),
      transactionDate: t.valueDate,
      ...(t.status === 'booked' ? { bookingDate: t.bookingDate } : {}),
      transactionAmount: { currency: t.currency, amount: formatCents(t.amountCents) },
      ...(t.merchantCategoryCode ? { merchantCategoryCode: t.merchantCategoryCode } : {}),
      maskedPAN: a.maskedPan,
      transactionDetails: (t.remittance ?? t.counterpartyName ?? '').slice(0, 140),
      invoiced: t.status === 'booked',
    });
    const links: Record<string, { href: string }> = {
      cardAccount: { href: `${ais}/v1/card-accounts/${a.id}` },
      first: { href: linkWith(base, req, { page: undefined }) },
      last: { href: linkWith(base, req, { page: result.lastPage || undefined }) },
    };
    if (page < result.lastPage) links.next = { href: linkWith(base, req, { page: page + 1 }) };
    if (page > 0) links.previous = { href: linkWith(base, req, { page: page - 1 || undefined }) };
    res.json({
      cardAccount: { maskedPan: a.maskedPan },
      cardTransactions: {
        ...(bookingStatus !== 'pending' ? { booked: result.items.filter((t) => t.status === 'booked').map(card) } : {}),
        ...(bookingStatus !== 'booked' ? { pending: result.items.filter((t) => t.status === 'pending').map(card) } : {}),
        _links: links,
      },
    });
  });

  // ----- payments -------------------------------------------------------------------------

  const product = (req: Request): string => {
    const p = String(req.params.product);
    if (!PAYMENT_PRODUCTS.includes(p)) throw new BankError('PARAMETER_NOT_SUPPORTED', `Payment product ${p} is not offered.`, 404, { path: 'payment-product' });
    return p;
  };
  const getPayment = async (req: Request): Promise<Payment> => {
    const p = bank.payments.get(String(req.params.paymentId));
    if (!p || p.product !== product(req)) throw new BankError('RESOURCE_UNKNOWN', 'Unknown payment.', 403);
    const token = await bank.bearer(req);
    if (token?.kind === 'user' && token.link?.paymentId !== p.id && token.link?.consentId === undefined)
      throw new BankError('TOKEN_INVALID', 'The token was not issued for this payment.');
    return p;
  };

  /**
   * The ISO 20022 reason of a rejection. NextGenPSD2 has no field for it, so it travels as a
   * `tppMessages` WARNING whose code is the reason (`AM04`, `AC04`, `DS02`, `AB05`).
   */
  const rejection = (p: Payment, status: string) =>
    status === 'RJCT' && p.rejected
      ? { tppMessages: [{ category: 'WARNING', code: p.rejected.reason, text: `The payment was rejected (${p.rejected.reason}).` }] }
      : {};

  api.post('/v1/payments/:product', (req, res) => {
    const prod = product(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    const debtor = (body.debtorAccount as { iban?: unknown } | undefined)?.iban;
    const creditor = (body.creditorAccount as { iban?: unknown } | undefined)?.iban;
    const amount = body.instructedAmount as { amount?: unknown; currency?: unknown } | undefined;
    if (debtor !== undefined && !isValidIban(debtor))
      throw new BankError('FORMAT_ERROR', 'debtorAccount.iban is not a valid IBAN.', 400, { path: 'debtorAccount.iban' });
    if (!isValidIban(creditor)) throw new BankError('FORMAT_ERROR', 'creditorAccount.iban is not a valid IBAN.', 400, { path: 'creditorAccount.iban' });
    const cents = parseAmount(amount?.amount);
    if (cents === undefined || cents <= 0)
      throw new BankError('FORMAT_ERROR', 'instructedAmount.amount must be a positive decimal with at most 2 decimals.', 400, {
        path: 'instructedAmount.amount',
      });
    if (amount?.currency !== 'EUR')
      throw new BankError('FORMAT_ERROR', 'instructedAmount.currency must be EUR for SEPA.', 400, { path: 'instructedAmount.currency' });
    if (typeof body.creditorName !== 'string' || !body.creditorName.trim() || body.creditorName.length > 70) {
      throw new BankError('FORMAT_ERROR', 'creditorName is required (at most 70 characters).', 400, { path: 'creditorName' });
    }
    const remittance = body.remittanceInformationUnstructured;
    if (remittance !== undefined && (typeof remittance !== 'string' || remittance.length > 140)) {
      throw new BankError('FORMAT_ERROR', 'remittanceInformationUnstructured is at most 140 characters.', 400, { path: 'remittanceInformationUnstructured' });
    }
    const requestedExecutionDate = typeof body.requestedExecutionDate === 'string' ? body.requestedExecutionDate : undefined;
    const creditorName = body.creditorName;
    // The same X-Request-ID and body again (a TPP retrying after a timeout) answers the same payment.
    const answer = bank.createPaymentOnce(`bg|${prod}`, req.get('x-request-id')!, body, () => {
      const now = bank.clock.nowMs();
      const payment: Payment = {
        id: bank.newId(),
        product: prod,
        psuId: req.get('psu-id')?.toLowerCase(),
        amountCents: cents,
        currency: 'EUR',
        debtorIban: typeof debtor === 'string' ? debtor : undefined,
        creditorName,
        creditorIban: creditor,
        remittance: remittance as string | undefined,
        endToEndId: typeof body.endToEndIdentification === 'string' ? body.endToEndIdentification : undefined,
        requestedExecutionDate,
        createdAtMs: now,
        approach: approachFor(req),
        tppRedirectUri: req.get('tpp-redirect-uri'),
        tppNokRedirectUri: req.get('tpp-nok-redirect-uri'),
        authorisations: [],
        request: body,
        extra: {},
      };
      bank.payments.set(payment.id, payment);
      const self = `${bank.info.pisBaseUrl}/v1/payments/${prod}/${payment.id}`;
      const { links, psuMessage } = startSca(req, payment, { paymentId: payment.id }, self);
      return {
        status: 201,
        headers: { Location: self, 'ASPSP-SCA-Approach': payment.approach },
        body: { transactionStatus: 'RCVD', paymentId: payment.id, _links: links, ...(psuMessage ? { psuMessage } : {}) },
      };
    });
    res.status(answer.status).set(answer.headers).json(answer.body);
  });

  api.get('/v1/payments/:product/:paymentId', async (req, res) => {
    const p = await getPayment(req);
    res.json({
      ...(p.endToEndId ? { endToEndIdentification: p.endToEndId } : {}),
      ...(p.debtorIban ? { debtorAccount: { iban: p.debtorIban } } : {}),
      instructedAmount: { currency: p.currency, amount: formatCents(p.amountCents) },
      creditorAccount: { iban: p.creditorIban },
      creditorName: p.creditorName,
      ...(p.remittance ? { remittanceInformationUnstructured: p.remittance } : {}),
      ...(p.requestedExecutionDate ? { requestedExecutionDate: p.requestedExecutionDate } : {}),
      transactionStatus: bank.paymentStatus(p),
      ...rejection(p, bank.paymentStatus(p)),
    });
  });
  api.get('/v1/payments/:product/:paymentId/status', async (req, res) => {
    const p = await getPayment(req);
    const status = bank.paymentStatus(p);
    res.json({ transactionStatus: status, ...(status === 'ACSC' ? { fundsAvailable: true } : {}), ...rejection(p, status) });
  });
  api.delete('/v1/payments/:product/:paymentId', async (req, res) => {
    const p = await getPayment(req);
    const status = bank.paymentStatus(p);
    const futureDated = !!p.requestedExecutionDate && p.requestedExecutionDate > bank.clock.today();
    if (status === 'RCVD' || (futureDated && status !== 'RJCT' && status !== 'CANC')) {
      if (p.creditorName.toLowerCase().includes(MAGIC.cancelScaCreditorWord)) {
        // The PSU must authorise the cancellation: nothing changes until they do (BG 1.3.12 §5.3).
        return res.status(202).json({
          transactionStatus: status,
          _links: { startAuthorisation: { href: `${bank.info.pisBaseUrl}/v1/payments/${p.product}/${p.id}/cancellation-authorisations` } },
        });
      }
      p.cancelledAtMs = bank.clock.nowMs();
      return res.status(204).end();
    }
    throw new BankError('CANCELLATION_INVALID', `A payment in status ${status} can no longer be cancelled.`, 405);
  });
  // Cancellation authorisations: the PSU approves the cancellation on the bank's SCA page (redirect).
  api.post('/v1/payments/:product/:paymentId/cancellation-authorisations', async (req, res) => {
    const p = await getPayment(req);
    const status = bank.paymentStatus(p);
    if (!p.creditorName.toLowerCase().includes(MAGIC.cancelScaCreditorWord) || status === 'RJCT' || status === 'CANC' || status === 'ACSC') {
      throw new BankError('CANCELLATION_INVALID', `A payment in status ${status} has no cancellation to authorise.`, 405);
    }
    const okRedirect = req.get('tpp-redirect-uri');
    if (!okRedirect) throw new BankError('FORMAT_ERROR', 'TPP-Redirect-URI is required by this bank.', 400, { path: 'TPP-Redirect-URI' });
    const { session, url } = startScaSession(bank, {
      mode: 'redirect',
      target: { cancellationOf: p.id },
      expectedUser: p.userId,
      okRedirect,
      nokRedirect: req.get('tpp-nok-redirect-uri'),
    });
    const authorisation = { id: bank.newId(), scaStatus: 'received' as const, sessionId: session.id };
    (p.cancellationAuthorisations ??= []).push(authorisation);
    const self = `${bank.info.pisBaseUrl}/v1/payments/${p.product}/${p.id}/cancellation-authorisations/${authorisation.id}`;
    res
      .status(201)
      .set('ASPSP-SCA-Approach', 'REDIRECT')
      .json({ scaStatus: 'received', authorisationId: authorisation.id, _links: { scaRedirect: { href: url }, scaStatus: { href: self } } });
  });
  api.get('/v1/payments/:product/:paymentId/cancellation-authorisations', async (req, res) => {
    res.json({ authorisationIds: ((await getPayment(req)).cancellationAuthorisations ?? []).map((a) => a.id) });
  });
  api.get('/v1/payments/:product/:paymentId/cancellation-authorisations/:authorisationId', async (req, res) => {
    const a = ((await getPayment(req)).cancellationAuthorisations ?? []).find((x) => x.id === req.params.authorisationId);
    if (!a) throw new BankError('RESOURCE_UNKNOWN', 'Unknown cancellation authorisation.', 403);
    res.json({ scaStatus: a.scaStatus });
  });
  api.post('/v1/payments/:product/:paymentId/authorisations', async (req, res) => {
    const p = await getPayment(req);
    startAuthorisation(req, res, p, { paymentId: p.id }, `${bank.info.pisBaseUrl}/v1/payments/${p.product}/${p.id}`);
  });
  api.get('/v1/payments/:product/:paymentId/authorisations', async (req, res) => {
    res.json({ authorisationIds: (await getPayment(req)).authorisations.map((a) => a.id) });
  });
  api.get('/v1/payments/:product/:paymentId/authorisations/:authorisationId', async (req, res) => {
    const a = (await getPayment(req)).authorisations.find((x) => x.id === req.params.authorisationId);
    if (!a) throw new BankError('RESOURCE_UNKNOWN', 'Unknown authorisation.', 403);
    res.json({ scaStatus: a.scaStatus });
  });
}
