/**
 * STET 1.4–1.6 (France) adapter. AISP access is an OAuth 2.0 authorisation code (scope `aisp`,
 * PKCE) obtained at the bank's pages: there is no consent resource to create first. After the code
 * exchange the adapter lists the accounts and tells the bank, with `PUT /consents`, which accounts'
 * balances and transactions the PSU consented to. Data calls follow the bank's HAL `_links`.
 * Split by resource: stet.session.ts (what the ports share), stet.consents.ts, stet.accounts.ts,
 * stet.payments.ts (PISP), stet.mapper.ts, stet.schemas.ts, stet.protocol.ts (the wire).
 */
import type { BankAdapterDeps } from '../index';
import type { BankAdapter } from '../../ports';
import { createStetAccounts } from './stet.accounts';
import { createStetConsents } from './stet.consents';
import { createStetPayments } from './stet.payments';
import { createStetSession } from './stet.session';

/** What the STET adapter needs. */
export type StetAdapterDeps = BankAdapterDeps;

/** Creates the STET adapter of one institution: its ports share one session (HTTP and OAuth clients, account links). */
export function createStetAdapter(deps: StetAdapterDeps): BankAdapter {
  const session = createStetSession(deps);
  const { institution, sandbox, log, oauth } = session;
  return {
    consents: createStetConsents(session),
    accounts: createStetAccounts(session),
    payments: createStetPayments({ deps, institution, sandbox, log, oauth }),
  };
}
