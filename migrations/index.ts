import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125000001Tenancy } from './Migration20261125000001Tenancy';
import { Migration20261125000002Vault } from './Migration20261125000002Vault';
import { Migration20261125000003RedirectUris } from './Migration20261125000003RedirectUris';
import { Migration20261125000004Consents } from './Migration20261125000004Consents';
import { Migration20261125000005Audit } from './Migration20261125000005Audit';
import { Migration20261125000006AccountData } from './Migration20261125000006AccountData';
import { Migration20261125000007KeyUse } from './Migration20261125000007KeyUse';
import { Migration20261125000008Events } from './Migration20261125000008Events';
import { Migration20261125000010Payments } from './Migration20261125000010Payments';
import { Migration20261125000009Webhooks } from './Migration20261125000009Webhooks';
import { Migration20261206110001ScaLease } from './Migration20261206110001ScaLease';
import { Migration20261206110002TransactionOrder } from './Migration20261206110002TransactionOrder';
import { Migration20261206110003SyncResume } from './Migration20261206110003SyncResume';
import { Migration20261206190001Reconciliation } from './Migration20261206190001Reconciliation';
import { Migration20261206150001PaymentCancellationAuthorisation } from './Migration20261206150001PaymentCancellationAuthorisation';
import { Migration20261207160001RowLevelSecurity } from './Migration20261207160001RowLevelSecurity';
import { Migration20261207180001WebhookLaneLeaseToken } from './Migration20261207180001WebhookLaneLeaseToken';
import { Migration20261207181001VaultKeyEpoch } from './Migration20261207181001VaultKeyEpoch';
import { Migration20261207200001Approvals } from './Migration20261207200001Approvals';
import { Migration20261207210001AccessGrants } from './Migration20261207210001AccessGrants';
import { Migration20261207220001ProofRecords } from './Migration20261207220001ProofRecords';
import { Migration20261207230001IsolateLaterTenantTables } from './Migration20261207230001IsolateLaterTenantTables';
import { Migration20261208010001SharedPayments } from './Migration20261208010001SharedPayments';
import { Migration20261208010002ApprovalVoided } from './Migration20261208010002ApprovalVoided';
import { Migration20261208020001EventPayloadLz4 } from './Migration20261208020001EventPayloadLz4';
import { Migration20261208020002UnpublishedSync } from './Migration20261208020002UnpublishedSync';
import { Migration20261209010001BulkLoader } from './Migration20261209010001BulkLoader';

/**
 * Every migration, in order. Listed statically so the same list works under tsx, vitest and the
 * Docker image without globbing the file system.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261125000001Tenancy', class: Migration20261125000001Tenancy },
  { name: 'Migration20261125000002Vault', class: Migration20261125000002Vault },
  { name: 'Migration20261125000003RedirectUris', class: Migration20261125000003RedirectUris },
  { name: 'Migration20261125000004Consents', class: Migration20261125000004Consents },
  { name: 'Migration20261125000005Audit', class: Migration20261125000005Audit },
  { name: 'Migration20261125000006AccountData', class: Migration20261125000006AccountData },
  { name: 'Migration20261125000007KeyUse', class: Migration20261125000007KeyUse },
  { name: 'Migration20261125000008Events', class: Migration20261125000008Events },
  { name: 'Migration20261125000010Payments', class: Migration20261125000010Payments },
  { name: 'Migration20261125000009Webhooks', class: Migration20261125000009Webhooks },
  { name: 'Migration20261206110001ScaLease', class: Migration20261206110001ScaLease },
  { name: 'Migration20261206110002TransactionOrder', class: Migration20261206110002TransactionOrder },
  { name: 'Migration20261206110003SyncResume', class: Migration20261206110003SyncResume },
  { name: 'Migration20261206150001PaymentCancellationAuthorisation', class: Migration20261206150001PaymentCancellationAuthorisation },
  { name: 'Migration20261206190001Reconciliation', class: Migration20261206190001Reconciliation },
  { name: 'Migration20261207160001RowLevelSecurity', class: Migration20261207160001RowLevelSecurity },
  { name: 'Migration20261207180001WebhookLaneLeaseToken', class: Migration20261207180001WebhookLaneLeaseToken },
  { name: 'Migration20261207181001VaultKeyEpoch', class: Migration20261207181001VaultKeyEpoch },
  { name: 'Migration20261207200001Approvals', class: Migration20261207200001Approvals },
  { name: 'Migration20261207210001AccessGrants', class: Migration20261207210001AccessGrants },
  { name: 'Migration20261207220001ProofRecords', class: Migration20261207220001ProofRecords },
  { name: 'Migration20261207230001IsolateLaterTenantTables', class: Migration20261207230001IsolateLaterTenantTables },
  { name: 'Migration20261208010001SharedPayments', class: Migration20261208010001SharedPayments },
  { name: 'Migration20261208010002ApprovalVoided', class: Migration20261208010002ApprovalVoided },
  { name: 'Migration20261208020001EventPayloadLz4', class: Migration20261208020001EventPayloadLz4 },
  { name: 'Migration20261208020002UnpublishedSync', class: Migration20261208020002UnpublishedSync },
  { name: 'Migration20261209010001BulkLoader', class: Migration20261209010001BulkLoader },
];
