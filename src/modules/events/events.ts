import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { EventRecord } from './event.entity';

/** What the event log records. Payloads carry ids (global ids) and facts, never secrets. */
export enum EventType {
  CONSENT_ACTIVATED = 'CONSENT_ACTIVATED',
  CONSENT_REJECTED = 'CONSENT_REJECTED',
  CONSENT_EXPIRING = 'CONSENT_EXPIRING',
  CONSENT_EXPIRED = 'CONSENT_EXPIRED',
  CONSENT_REVOKED = 'CONSENT_REVOKED',
  CONSENT_REAUTH_REQUIRED = 'CONSENT_REAUTH_REQUIRED',
  ACCOUNT_DISCOVERED = 'ACCOUNT_DISCOVERED',
  TRANSACTIONS_ADDED = 'TRANSACTIONS_ADDED',
  TRANSACTIONS_MODIFIED = 'TRANSACTIONS_MODIFIED',
  TRANSACTIONS_REMOVED = 'TRANSACTIONS_REMOVED',
  BALANCE_UPDATED = 'BALANCE_UPDATED',
  SYNC_FAILED = 'SYNC_FAILED',
  PAYMENT_STATUS_CHANGED = 'PAYMENT_STATUS_CHANGED',
  EXPECTED_PAYMENT_PAID = 'EXPECTED_PAYMENT_PAID',
  EXPECTED_PAYMENT_PARTIALLY_PAID = 'EXPECTED_PAYMENT_PARTIALLY_PAID',
  EXPECTED_PAYMENT_OVERDUE = 'EXPECTED_PAYMENT_OVERDUE',
  RECONCILIATION_SUGGESTED = 'RECONCILIATION_SUGGESTED',
  PAYMENT_APPROVAL_REQUESTED = 'PAYMENT_APPROVAL_REQUESTED',
  PAYMENT_APPROVED = 'PAYMENT_APPROVED',
  PAYMENT_APPROVAL_REJECTED = 'PAYMENT_APPROVAL_REJECTED',
  ACCESS_GRANT_INVITED = 'ACCESS_GRANT_INVITED',
  ACCESS_GRANT_ACCEPTED = 'ACCESS_GRANT_ACCEPTED',
  ACCESS_GRANT_DECLINED = 'ACCESS_GRANT_DECLINED',
  ACCESS_GRANT_REVOKED = 'ACCESS_GRANT_REVOKED',
}

/** One event to append. */
export interface NewEvent {
  tenantId: string;
  type: EventType;
  resourceType: 'Consent' | 'Account' | 'Payment' | 'ExpectedPayment' | 'ReconciliationMatch' | 'AccessGrant';
  resourceId: string;
  payload: Record<string, unknown>;
}

/** Transaction ids per TRANSACTIONS_* event: a first sync of 100,000 rows is 1,000 events, each small. */
export const IDS_PER_EVENT = 100;

/** Appends within the unit of work of `em`: the events land in the same flush (transaction) as the change. */
export function addEvents(em: EntityManager, events: NewEvent[]): void {
  for (const e of events) em.create(EventRecord, { id: randomUUID(), ...e });
}

/**
 * Appends with a plain client inside the caller's open transaction (the sync's write). The
 * payloads go as one JSON array rather than an array of jsonb texts, which the driver would
 * escape again element by element (a first sync's 1,000 events are megabytes of ids).
 */
export async function appendEvents(client: Pick<pg.PoolClient, 'query'>, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `insert into event (id, tenant_id, type, resource_type, resource_id, payload)
     select u.id, u.tenant_id, u.type, u.resource_type, u.resource_id, p.payload
     from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[]) with ordinality as u(id, tenant_id, type, resource_type, resource_id, n)
       join jsonb_array_elements($6::jsonb) with ordinality as p(payload, n) on p.n = u.n
     order by u.n`,
    [
      events.map(() => randomUUID()),
      events.map((e) => e.tenantId),
      events.map((e) => e.type),
      events.map((e) => e.resourceType),
      events.map((e) => e.resourceId),
      JSON.stringify(events.map((e) => e.payload)),
    ],
  );
}

/** Splits ids into TRANSACTIONS_* events of at most {@link IDS_PER_EVENT}. */
export function chunked<T>(items: T[], size = IDS_PER_EVENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
