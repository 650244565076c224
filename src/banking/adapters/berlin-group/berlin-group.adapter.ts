/**
 * Berlin Group NextGenPSD2 1.3.x adapter: AIS consents (redirect, OAuth SCA and decoupled
 * approaches), accounts, card accounts, balances and paged transactions, and payment initiation,
 * behind the banking ports.
 * Every call goes through the bank HTTP client (schemas, retries, redaction); OAuth goes through
 * BankOAuth. Links the bank sends (`scaRedirect`, `scaOAuth`, `startAuthorisation`, `status`,
 * `next`) are followed rather than rebuilt.
 * Split by resource: berlin-group.session.ts (what the ports share), berlin-group.consents.ts,
 * berlin-group.accounts.ts, berlin-group.payments.ts (PIS), berlin-group.mapper.ts,
 * berlin-group.schemas.ts, berlin-group.protocol.ts (the wire).
 */
import type { BankAdapterDeps } from '../index';
import type { BankAdapter } from '../../ports';
import { createBerlinGroupAccounts } from './berlin-group.accounts';
import { createBerlinGroupConsents } from './berlin-group.consents';
import { createBerlinGroupPayments } from './berlin-group.payments';
import { createBerlinGroupSession, resolveBankLink } from './berlin-group.session';

export type { BerlinGroupConsentRequest, BerlinGroupSecretKey } from './berlin-group.consents';
export { resolveBankLink } from './berlin-group.session';

/** What the adapter needs: the institution, the gateway's client registration at the bank, and where to report. */
export type BerlinGroupAdapterDeps = BankAdapterDeps;

/**
 * Builds the adapter of one Berlin Group institution.
 *
 * SCA approach: the caller's `preferredApproach`, else the first of `institution.scaApproaches`
 * that can be used (DECOUPLED only with a `psuId`; EMBEDDED is not supported); the bank's answer
 * (`scaRedirect`, `scaOAuth`, `startAuthorisation` links, `ASPSP-SCA-Approach`) decides in the end.
 *
 * Quirks read from `institution.quirks`:
 * - `sandbox: true` — allows plain http for the API and the OAuth server (sandbox banks only);
 * - `consentAccess: 'allPsd2' | 'bankOffered'` — how `access` is asked for (default: `allPsd2`
 *   when all three scopes are wanted, else a bank-offered consent with empty account lists);
 * - `cardAccounts: false` — the bank has no `/v1/card-accounts`: `listAccounts` does not ask;
 * - `consentPerAccount`, `bookingStatusBothUnsupported`, `maxPageSize`, `debtorAccountOptional`,
 *   `psuIpAddressOptional` — see src/banking/quirks.ts.
 *
 * Card accounts get the `bankAccountId` `card:<resourceId>` so later calls reach `/v1/card-accounts`.
 */
export function createBerlinGroupAdapter(deps: BerlinGroupAdapterDeps): BankAdapter {
  const session = createBerlinGroupSession(deps);
  const { institution, sandbox, log, oauthClient } = session;
  return {
    consents: createBerlinGroupConsents(session),
    accounts: createBerlinGroupAccounts(session),
    payments: createBerlinGroupPayments({ deps, institution, sandbox, log, resolveLink: resolveBankLink, oauthClient }),
  };
}
