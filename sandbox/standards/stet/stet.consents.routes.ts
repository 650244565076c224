import { BankError } from '../../core/errors';
import { isValidIban } from '../../core/iban';
import type { StetContext } from './stet.context';

/** STET consents: the AISP records which accounts the PSU granted. */
export function mountStetConsents(ctx: StetContext): void {
  const { bank, api, root, aispConsent } = ctx;
  api.put(`${root}/consents`, async (req, res) => {
    const c = await aispConsent(req);
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') throw new BankError('FORMAT_ERROR', 'A JSON body is required.');
    const owned = bank.accountsOf(c.userId!);
    const list = (key: 'balances' | 'transactions'): string[] => {
      const v = body[key];
      if (v === undefined) return [];
      if (!Array.isArray(v)) throw new BankError('FORMAT_ERROR', `${key} must be an array of account identifiers.`, 400, { path: key });
      return v.map((ref, i) => {
        const iban = (ref as { iban?: unknown })?.iban;
        if (!isValidIban(iban)) throw new BankError('FORMAT_ERROR', `${key}[${i}].iban is not a valid IBAN.`, 400, { path: `${key}[${i}].iban` });
        if (!owned.some((a) => a.iban === iban))
          throw new BankError('CONSENT_INVALID', `${key}[${i}] is not an account of this PSU.`, 403, { path: `${key}[${i}]` });
        return iban;
      });
    };
    c.access = { accounts: owned.map((a) => a.iban), balances: list('balances'), transactions: list('transactions') };
    c.extra.psuIdentity = body.psuIdentity === true;
    c.extra.trustedBeneficiaries = body.trustedBeneficiaries === true;
    c.statusUpdatedAtMs = bank.clock.nowMs();
    res.status(201).end();
  });
}
