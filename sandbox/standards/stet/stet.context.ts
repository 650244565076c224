import type { Request, Response } from 'express';
import type { Bank } from '../../core/bank';
import { BankError } from '../../core/errors';
import type { AisConsent } from '../../core/state';

/** STET answers in HAL. */
export const HAL = 'application/hal+json; charset=utf-8';

/** What every STET route file shares: the bank, its paths, HAL answers and the AISP consent of a request. */
export function stetContext(bank: Bank) {
  const api = bank.api;
  const root = bank.def.aisPath;
  const ais = bank.info.aisBaseUrl;
  const base = bank.info.apiBaseUrl;
  // Through res.json (which keeps the HAL content type) so transport faults such as malformed-json apply.
  const hal = (res: Response, status: number, body: unknown) => res.status(status).type(HAL).json(body);

  const psuPresent = (req: Request) => !!req.get('psu-ip-address');

  const aispConsent = async (req: Request): Promise<AisConsent> => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (token.kind !== 'user' || !token.link?.consentId) throw new BankError('TOKEN_INVALID', 'An AISP token obtained by the PSU is required.', 401);
    return bank.requireUsableConsent(bank.consents.get(token.link.consentId));
  };

  return { bank, api, root, ais, base, hal, psuPresent, aispConsent };
}

/** The shared helpers of one STET bank. */
export type StetContext = ReturnType<typeof stetContext>;
