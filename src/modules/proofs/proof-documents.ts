import type { Consent } from '../consents/consent.entity';
import type { Payment } from '../payments/payment.entity';
import type { ProofActor, ProofAuthMethod, ProofInput } from './proof';

/**
 * The proof inputs the gateway writes itself: a consent's authorisation at the bank and every
 * payment status change. The documents hold what was authorised or changed, never a secret
 * (no tokens, no bank secrets, no state).
 */

/** A consent became ACTIVE (first authorisation or renewal) after the end user's SCA at the bank. */
export function consentAuthorisedProof(
  consent: Consent,
  institution: { id: string; name: string },
  details: { renewal: boolean; accounts: number },
): ProofInput {
  return {
    tenantId: consent.tenant.id,
    endUserId: consent.endUser.id,
    subject: { kind: 'CONSENT', id: consent.id },
    event: 'CONSENT_AUTHORISED',
    actor: { kind: 'END_USER', id: consent.endUser.id },
    authMethod: { kind: 'BANK_SCA', institutionId: institution.id, institutionName: institution.name, scaApproach: consent.scaApproach ?? 'REDIRECT' },
    document: {
      type: 'ConsentAuthorisation',
      consentId: consent.id,
      institutionId: institution.id,
      bankConsentId: consent.bankConsentId,
      scopes: [...consent.scopes],
      validUntil: consent.validUntil?.toISOString() ?? null,
      historyDays: consent.historyDays,
      frequencyPerDay: consent.frequencyPerDay,
      renewal: details.renewal,
      accounts: details.accounts,
      authorizedAt: consent.authorizedAt?.toISOString() ?? null,
    },
    occurredAt: consent.authorizedAt,
  };
}

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
