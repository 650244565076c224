/**
 * GoCardless Bank Account Data v2 (formerly Nordigen) behind the banking ports: an upstream
 * aggregator that holds the PSD2 licence, for operators who hold none. A consent is an end-user
 * agreement (scopes, `max_historical_days`, `access_valid_for_days`) plus a requisition whose link
 * the end user follows; its status (CR/GC/UA/SA/GA → LN, or RJ/EX/SU) decides the consent's.
 * Account information only: the payment port refuses every call (institutions reached only
 * through the upstream list no payment scheme, so `paymentInitiate` answers NOT_SUPPORTED first).
 *
 * The operator's secret id/key (the credentials' `clientId`/`clientSecret`) buy an access token
 * (`/token/new/`, refreshed with `/token/refresh/`); tokens live in memory only and are never
 * logged. The upstream's documented rate-limit headers are remembered per account and scope
 * (gocardless.limits.ts): a call that would meet the bank's daily 429 is not made.
 *
 * Split by resource: gocardless.session.ts (what the ports share: token, budget, requisitions),
 * gocardless.consents.ts, gocardless.accounts.ts, gocardless.payments.ts (refusals),
 * gocardless.mapper.ts, gocardless.schemas.ts, gocardless.protocol.ts (the wire).
 */
import type { BankAdapterDeps } from '../index';
import type { BankAdapter } from '../../ports';
import { createGoCardlessAccounts } from './gocardless.accounts';
import { createGoCardlessConsents } from './gocardless.consents';
import { createGoCardlessPayments } from './gocardless.payments';
import { createGoCardlessSession } from './gocardless.session';

export { UPSTREAM_MAX_HISTORY_DAYS } from './gocardless.consents';

/** Builds the adapter of one institution reached through GoCardless Bank Account Data. */
export function createGoCardlessAdapter(deps: BankAdapterDeps): BankAdapter {
  const session = createGoCardlessSession(deps);
  return { consents: createGoCardlessConsents(session), accounts: createGoCardlessAccounts(session), payments: createGoCardlessPayments(session) };
}
