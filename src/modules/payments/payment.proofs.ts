import type { ProofActor, ProofAuthMethod, ProofInput } from '../proofs';
import type { Payment } from './payment.entity';

/** The proof every payment status change writes: what changed, never a secret (no tokens, no bank secrets, no state). */

/**
 * A payment's status changed. `actor` is the label the payments module journals: `endUser` (the
 * end user's return from the bank's SCA), `system` (the gateway's status poll) or `apiKey:<id>`.
 */
export function paymentStatusChangedProof(payment: Payment, from: string | null, actor: string, reason: string | null): ProofInput {
  const who = paymentActor(payment, actor);
  return {
    tenantId: payment.tenant.id,
    endUserId: payment.endUser.id,
    applicationId: who.applicationId,
    subject: { kind: 'PAYMENT', id: payment.id },
    event: 'PAYMENT_STATUS_CHANGED',
    actor: who.actor,
    authMethod: who.authMethod,
    document: {
      type: 'PaymentStatusChange',
      paymentId: payment.id,
      from,
      to: payment.status,
      rawStatus: payment.rawStatus,
      reasonCode: payment.reasonCode,
      reason,
      terminal: payment.terminal,
      payment: {
        institutionId: payment.institutionId,
        bankPaymentId: payment.bankPaymentId,
        scheme: payment.scheme,
        amount: payment.amount,
        currency: payment.currency,
        debtorIban: payment.debtorIban,
        creditorName: payment.creditorName,
        creditorIban: payment.creditorIban,
        creditorBic: payment.creditorBic,
        remittanceInformation: payment.remittanceInformation,
        endToEndId: payment.endToEndId,
        requestedExecutionDate: payment.requestedExecutionDate,
      },
    },
  };
}

function paymentActor(payment: Payment, label: string): { actor: ProofActor; authMethod: ProofAuthMethod; applicationId: string | null } {
  if (label.startsWith('apiKey:')) {
    const apiKeyId = label.slice('apiKey:'.length);
    return { actor: { kind: 'API_KEY', id: apiKeyId }, authMethod: { kind: 'API_KEY', apiKeyId }, applicationId: apiKeyId };
  }
  if (label === 'endUser') {
    return {
      actor: { kind: 'END_USER', id: payment.endUser.id },
      authMethod: { kind: 'BANK_SCA', institutionId: payment.institutionId, scaApproach: payment.authorizationUrl ? 'REDIRECT' : null },
      applicationId: null,
    };
  }
  return { actor: { kind: 'GATEWAY', id: label }, authMethod: { kind: 'BANK_REPORT', institutionId: payment.institutionId }, applicationId: null };
}
