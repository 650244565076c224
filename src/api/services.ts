import type { AccountsService } from '../modules/accounts/accounts.service';
import type { ApprovalsService } from '../modules/approvals/approvals.service';
import type { AuditService } from '../modules/audit/audit.service';
import type { ConsentsService } from '../modules/consents/consents.service';
import type { EventsService } from '../modules/events/events.service';
import type { EventStream } from '../modules/events/event-stream';
import type { GrantsService } from '../modules/grants/grants.service';
import type { InstitutionsService } from '../modules/institutions/institutions.service';
import type { PaymentsService } from '../modules/payments/payments.service';
import type { ProofsService } from '../modules/proofs/proofs.service';
import type { ReconciliationService } from '../modules/reconciliation/reconciliation.service';
import type { SandboxService } from '../modules/sandbox/sandbox.service';
import type { SyncService } from '../modules/sync/sync.service';
import type { TenancyService } from '../modules/tenancy/tenancy.service';
import type { VaultService } from '../modules/vault';
import type { WebhooksService } from '../modules/webhooks/webhooks.service';

/** The module services resolvers may call; built once in the composition root. */
export interface Services {
  readonly tenancy: TenancyService;
  readonly vault: VaultService;
  readonly institutions: InstitutionsService;
  readonly consents: ConsentsService;
  readonly audit: AuditService;
  readonly accounts: AccountsService;
  readonly sync: SyncService;
  readonly events: EventsService;
  readonly eventStream: EventStream;
  readonly payments: PaymentsService;
  readonly webhooks: WebhooksService;
  /** Expected payments, the matcher and its review. */
  readonly reconciliation: ReconciliationService;
  /** The sandbox* mutations (refused with SANDBOX_ONLY for live keys and on a gateway without sandbox). */
  readonly sandbox: SandboxService;
  /** Members, credentials, approval policies and signed decisions on payments. */
  readonly approvals: ApprovalsService;
  /** Proof records: append (by the modules that change what they prove), read, export. */
  readonly proofs: ProofsService;
  /** Access grants to other tenants and the grantees' reads through them. */
  readonly grants: GrantsService;
}
