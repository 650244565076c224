/**
 * UK Open Banking Read/Write adapter (3.1.x; 4.0 status codes tolerated). The flow the standard
 * prescribes:
 *
 * 1. a client-credentials token (scope `accounts`) creates an account-access consent
 *    (`POST /account-access-consents` with `Data.Permissions`, `ExpirationDateTime`,
 *    `TransactionFromDateTime`);
 * 2. the PSU authorises it at the bank: authorisation code + PKCE through {@link BankOAuth} (PAR
 *    when offered), the consent id travelling as the essential claim `openbanking_intent_id` in
 *    `claims`, or inside a signed request object when the operator gave a `requestObjectKey`;
 * 3. the code becomes the PSU's tokens; data calls carry them (`/accounts`, `/balances`,
 *    `/transactions`, following `Links.Next`);
 * 4. `DELETE /account-access-consents/{id}` revokes.
 *
 * Payments (uk-obie.payments.ts) take the same path with a `payments` client token, a
 * domestic-payment consent as the intent, and `POST /domestic-payments` after the PSU's approval.
 *
 * Every call goes through the bank HTTP client (timeouts, retries of safe calls, schemas,
 * `x-fapi-interaction-id`, typed errors); OAuth failures outside the PSU's callback become the same
 * {@link BankError} family.
 */
import type { BankAdapter } from '../../ports';
import { createUkObieAccounts } from './uk-obie.accounts';
import { createUkObieConsents } from './uk-obie.consents';
import { createUkObiePayments } from './uk-obie.payments';
import { createUkObieSession, type UkObieAdapterDeps } from './uk-obie.session';

export type { UkObieAdapterDeps } from './uk-obie.session';

/**
 * Builds the UK Open Banking adapter of one institution. Quirks it reads: `sandbox` (true allows
 * the sandbox's plain-http issuer and API) and `fapiFinancialId` (sent as `x-fapi-financial-id`
 * to banks still on 3.0). `secrets` of a started consent: `state` (the request's), `codeVerifier`,
 * `nonce`, `redirectUri`; `complete` needs them back. Split by resource: uk-obie.session.ts (what
 * the ports share), uk-obie.consents.ts, uk-obie.accounts.ts, uk-obie.payments.ts.
 */
export function createUkObieAdapter(deps: UkObieAdapterDeps): BankAdapter {
  const session = createUkObieSession(deps);
  const { institution, sandbox, log, asClient, authoriseIntent, viaOAuth, oauth } = session;
  const payments = createUkObiePayments({ deps, institution, sandbox, log, asClient, authoriseIntent, oauth: () => viaOAuth('oauth.configure', oauth) });
  return { payments, consents: createUkObieConsents(session), accounts: createUkObieAccounts(session) };
}
