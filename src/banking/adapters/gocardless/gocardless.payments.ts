/** GoCardless Bank Account Data offers account information only: its payment port refuses every call. */
import { BankInvalidRequest } from '../../errors';
import type { PaymentInitiationPort } from '../../ports';
import type { GoCardlessSession } from './gocardless.session';

/** The payment port of an institution reached through the upstream: every call is refused. */
export function createGoCardlessPayments(session: GoCardlessSession): PaymentInitiationPort {
  const { institutionId, details } = session;
  const refused = (operation: string) =>
    new BankInvalidRequest(`${operation} at ${institutionId}: GoCardless Bank Account Data offers account information only; payments need a direct bank`, {
      ...details(operation),
      bankCode: 'PAYMENTS_NOT_OFFERED',
    });
  const payments: PaymentInitiationPort = {
    initiate: () => Promise.reject(refused('payment.create')),
    complete: () => Promise.reject(refused('payment.complete')),
    status: () => Promise.reject(refused('payment.status')),
  };

  return payments;
}
