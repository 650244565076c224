import type { Request } from 'express';
import { BankError } from '../../core/errors';
import type { AisConsent } from '../../core/state';
import { dt, ISO_DT, type UkObieContext } from './uk-obie.context';

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

/** UK OBIE account-access-consents: create, read and delete. */
export function mountUkObieConsents(ctx: UkObieContext): void {
  const { bank, api, aisPath, ais, clientToken, wrap } = ctx;
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
}
