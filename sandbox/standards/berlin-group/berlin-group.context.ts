import type { Request, Response } from 'express';
import type { Bank } from '../../core/bank';
import { BankError } from '../../core/errors';
import { balancesOf, formatCents, type LedgerAccount } from '../../core/ledger';
import { startScaSession } from '../../core/sca';
import type { AisConsent, Payment, ScaApproach } from '../../core/state';

/**
 * What every Berlin Group route file shares: the bank, its base URLs, the SCA start of a consent or
 * payment, and the consent and account look-ups of a data request.
 */
export function berlinGroupContext(bank: Bank) {
  const api = bank.api;
  const base = bank.info.apiBaseUrl;
  const ais = bank.info.aisBaseUrl;

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

  return { bank, api, base, ais, approachFor, startSca, bearerLink, startAuthorisation, dataConsent, psuPresent, accountOf, balanceList };
}

/** The shared helpers of one Berlin Group bank. */
export type BerlinGroupContext = ReturnType<typeof berlinGroupContext>;
