import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import type { ApprovalDecision } from './payment-approval.entity';

/** What an approver signs: every field that decides where money goes, and the decision. */
export interface ApprovalDocumentFields {
  paymentId: string;
  endUserId: string;
  scheme: string;
  debtorIban: string | null;
  creditor: { name: string; iban: string; bic: string | null };
  amount: string;
  currency: string;
  remittanceInformation: string | null;
  requestedExecutionDate: string | null;
  idempotencyKey: string;
  policyVersion: number;
  revision: number;
}

/** Names the document's format, so a signature over it can never be mistaken for one over anything else. */
export const APPROVAL_DOCUMENT_TYPE = 'passerelle.payment-approval.v1';

/**
 * The canonical form approvers sign: JSON canonicalised by RFC 8785 (JCS), UTF-8. The gateway
 * computes it itself from the stored payment at every verification, so a changed field (or a new
 * revision) makes earlier signatures fail.
 */
export function approvalDocument(fields: ApprovalDocumentFields, decision: ApprovalDecision): string {
  const text = canonicalize({ type: APPROVAL_DOCUMENT_TYPE, decision, ...fields });
  if (text === undefined) throw new Error('approval document did not canonicalise');
  return text;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
