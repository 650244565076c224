import type { Request, Response } from 'express';
import { BankError } from '../../core/errors';
import { isValidIban } from '../../core/iban';
import type { AisConsent } from '../../core/state';
import type { BerlinGroupContext } from './berlin-group.context';

const BG_CONSENT_STATUS: Record<AisConsent['status'], string> = {
  received: 'received',
  valid: 'valid',
  rejected: 'rejected',
  expired: 'expired',
  revoked: 'revokedByPsu',
  terminatedByTpp: 'terminatedByTpp',
};

/** Berlin Group consents (AIS): create, read, status, delete, and their authorisations. */
export function mountBerlinGroupConsents(ctx: BerlinGroupContext): void {
  const { bank, api, ais, approachFor, startSca, startAuthorisation } = ctx;
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
}
