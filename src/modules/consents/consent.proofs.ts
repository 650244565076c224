import type { ProofInput } from '../proofs';
import type { Consent } from './consent.entity';

/** The proof a consent's authorisation writes: what was authorised, never a secret (no tokens, no bank secrets, no state). */

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
