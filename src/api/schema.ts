import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type PubSub } from 'type-graphql';
import { createPubSub } from '@graphql-yoga/subscription';
import { AccountsResolver } from '../modules/accounts/accounts.resolver';
import { ApprovalMembersResolver, PaymentApprovalDocumentResolver, PaymentApprovalResolver } from '../modules/approvals/approvals.resolver';
import { AuditResolver } from '../modules/audit/audit.resolver';
import { EventSubscriptionsResolver, EventsResolver } from '../modules/events/events.resolver';
import { ConsentAccountsResolver, TransactionAccountResolver } from '../modules/accounts/account-links.resolver';
import { ConsentSubscriptionsResolver } from '../modules/consents/consents.subscriptions.resolver';
import { PaymentSubscriptionsResolver } from '../modules/payments/payments.subscriptions.resolver';
import { ConsentsResolver } from '../modules/consents/consents.resolver';
import {
  AccessGrantsResolver,
  AccessGrantsTenantResolver,
  SharedAccountsResolver,
  SharedPaymentsResolver,
  SharedSubscriptionsResolver,
} from '../modules/grants/grants.resolver';
import { InstitutionsResolver } from '../modules/institutions/institutions.resolver';
import { PaymentsResolver } from '../modules/payments/payments.resolver';
import { ProofsResolver } from '../modules/proofs/proofs.resolver';
import { ReconciliationResolver } from '../modules/reconciliation/reconciliation.resolver';
import { SandboxResolver } from '../modules/sandbox/sandbox.resolver';
import { SandboxCustomerPaymentsResolver } from '../modules/sandbox/sandbox-customer-payments.resolver';
import { SyncResolver } from '../modules/sync/sync.resolver';
import { TenancyResolver } from '../modules/tenancy/tenancy.resolver';
import { TransactionsResolver } from '../modules/transactions/transactions.resolver';
import { WebhookDeliveryResolver, WebhooksResolver } from '../modules/webhooks/webhooks.resolver';
import { NodeResolver } from './relay/node.resolver';

/** Every resolver of the API. Modules add theirs here. */
export const resolvers = [
  NodeResolver,
  TenancyResolver,
  InstitutionsResolver,
  ConsentsResolver,
  AccountsResolver,
  TransactionAccountResolver,
  ConsentAccountsResolver,
  TransactionsResolver,
  SyncResolver,
  EventsResolver,
  EventSubscriptionsResolver,
  ConsentSubscriptionsResolver,
  PaymentSubscriptionsResolver,
  WebhooksResolver,
  WebhookDeliveryResolver,
  AuditResolver,
  PaymentsResolver,
  ReconciliationResolver,
  SandboxResolver,
  SandboxCustomerPaymentsResolver,
  ProofsResolver,
  ApprovalMembersResolver,
  PaymentApprovalResolver,
  PaymentApprovalDocumentResolver,
  AccessGrantsResolver,
  AccessGrantsTenantResolver,
  SharedAccountsResolver,
  SharedPaymentsResolver,
  SharedSubscriptionsResolver,
] as const;

/** Builds the executable schema; `pubSub` carries subscription events (in-process or Redis). */
export async function buildApiSchema(pubSub: PubSub = createPubSub()): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    pubSub,
    validate: false,
    emitSchemaFile: false,
    // Keep the SDL byte-stable so `schema:check` compares like with like.
    scalarsMap: [],
  });
}

/** The SDL of the schema as `schema/schema.graphql` holds it. */
export function printApiSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
