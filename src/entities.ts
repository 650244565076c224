import { ApiKey } from './modules/tenancy/api-key.entity';
import { EndUser } from './modules/tenancy/end-user.entity';
import { Tenant } from './modules/tenancy/tenant.entity';
import { RedirectUri } from './modules/tenancy/redirect-uri.entity';
import { Consent } from './modules/consents/consent.entity';
import { Account } from './modules/accounts/account.entity';
import { AuditEvent } from './modules/audit/audit-event.entity';
import { EventRecord } from './modules/events/event.entity';
import { VaultDataKey } from './modules/vault/vault-data-key.entity';
import { VaultMasterKey } from './modules/vault/vault-master-key.entity';
import { VaultRotation } from './modules/vault/vault-rotation.entity';
import { Payment } from './modules/payments/payment.entity';
import { ApprovalMember } from './modules/approvals/member.entity';
import { ApprovalCaCertificate, ApproverCertificate, ApproverPasskey } from './modules/approvals/credential.entity';
import { ApprovalPolicy } from './modules/approvals/policy.entity';
import { ApprovalLink, PaymentApproval } from './modules/approvals/payment-approval.entity';
import { ProofRecordEntity } from './modules/proofs/proof-record.entity';

/** Every persistent entity, handed to the database by the composition root. Each module adds its own here (and a migration under migrations/). */
export const entities = [
  Tenant,
  ApiKey,
  EndUser,
  RedirectUri,
  Consent,
  Account,
  AuditEvent,
  EventRecord,
  VaultMasterKey,
  VaultDataKey,
  VaultRotation,
  Payment,
  ProofRecordEntity,
  ApprovalMember,
  ApprovalCaCertificate,
  ApproverCertificate,
  ApproverPasskey,
  ApprovalPolicy,
  PaymentApproval,
  ApprovalLink,
];
