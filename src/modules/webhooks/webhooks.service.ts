import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { DomainError, ErrorCode } from '../../kernel/errors';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';
import { inTransaction } from '../../platform/db';
import type { AuditService } from '../audit';
import { AuditAction } from '../audit';
import type { EventType } from '../events';
import { EVENT_COLUMNS, encodeEventCursor, type EventEntry } from '../events';
import type { VaultService } from '../vault';
import { newSigningSecret } from './signing';
import { checkWebhookUrl } from './webhook-url';

/** Endpoints a tenant may have. */
export const MAX_ENDPOINTS = 20;
/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_HOURS = 24;
export const SECRET_PURPOSE = 'webhook-signing-secret';
const MAX_DESCRIPTION = 200;

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'DEAD';

export interface EndpointRecord {
  id: string;
  tenantId: string;
  url: string;
  description: string | null;
  eventTypes: EventType[];
  createdAt: Date;
  secretRotatedAt: Date | null;
  previousSecretExpiresAt: Date | null;
}

export interface DeliveryRecord {
  id: string;
  endpointId: string;
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
  firstAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  lastResponseStatus: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
}

export interface AttemptRecord {
  n: number;
  at: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
}

type Result<T> = { ok: true; value: T } | { ok: false; userErrors: Problem[] };

const ENDPOINT_COLUMNS = `id, tenant_id as "tenantId", url, description, event_types as "eventTypes", created_at as "createdAt",
  secret_rotated_at as "secretRotatedAt", previous_secret_expires_at as "previousSecretExpiresAt"`;
export const DELIVERY_COLUMNS = `id, endpoint_id as "endpointId", event_id as "eventId", status, attempts, first_attempt_at as "firstAttemptAt",
  last_attempt_at as "lastAttemptAt", case when status = 'PENDING' then next_attempt_at end as "nextAttemptAt",
  last_response_status as "lastResponseStatus", last_error as "lastError", delivered_at as "deliveredAt", created_at as "createdAt"`;

const actor = (caller: Caller) => `apiKey:${caller.apiKeyId}`;

/** Keyset cursor of the delivery list (newest first). */
function encodeDeliveryCursor(d: { createdAt: Date; id: string }): string {
  return Buffer.from(`d1|${d.createdAt.toISOString()}|${d.id}`, 'utf8').toString('base64url');
}
function decodeDeliveryCursor(cursor: string): { createdAt: string; id: string } {
  const [tag, at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (tag !== 'd1' || !at || !id || Number.isNaN(Date.parse(at)) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new DomainError(ErrorCode.BAD_USER_INPUT, 'Argument "after" is not a valid cursor for this list.', { argument: 'after' });
  }
  return { createdAt: at, id };
}

/**
 * Webhook endpoints and their delivery log, per tenant. Signing secrets are generated here, shown
 * once, and kept sealed by the vault (owner: the endpoint); deleting an endpoint shreds its key.
 */
export class WebhooksService {
  constructor(
    private readonly deps: {
      sql: pg.Pool;
      vault: VaultService;
      audit: AuditService;
      /** Wakes the delivery workers (a replayed delivery is due at once). */
      wake: () => void;
      /** Host resolution for the live URL check (tests pass their own). */
      resolve?: (host: string) => Promise<string[]>;
    },
  ) {}

  async create(
    caller: Caller,
    input: { url: string; eventTypes: EventType[]; description?: string | null },
  ): Promise<Result<{ endpoint: EndpointRecord; secret: string }>> {
    const errors: Problem[] = [];
    const url = await checkWebhookUrl(input.url, caller.environment, this.deps.resolve);
    if (!url.ok) errors.push(url.error);
    const types = [...new Set(input.eventTypes)];
    if (types.length === 0) errors.push(problem(['input', 'eventTypes'], ProblemCode.BLANK, 'name at least one event type'));
    const description = input.description?.trim() || null;
    if (description && description.length > MAX_DESCRIPTION)
      errors.push(problem(['input', 'description'], ProblemCode.TOO_LONG, `must be at most ${MAX_DESCRIPTION} characters`));
    if (errors.length || !url.ok) return { ok: false, userErrors: errors };

    const id = randomUUID();
    const secret = newSigningSecret();
    const sealed = await this.deps.vault.seal(secret, { tenantId: caller.tenantId, ownerId: id, purpose: SECRET_PURPOSE });
    const created = await this.transaction(async (client) => {
      // The count and the insert under one tenant lock, so concurrent creations respect the limit.
      await client.query('select pg_advisory_xact_lock(4242009, hashtext($1))', [caller.tenantId]);
      const { rows } = await client.query<{ n: string }>('select count(*)::text as n from webhook_endpoint where tenant_id = $1', [caller.tenantId]);
      if (Number(rows[0]!.n) >= MAX_ENDPOINTS) return null;
      const inserted = await client.query<EndpointRecord>(
        `insert into webhook_endpoint (id, tenant_id, url, description, event_types, secret_sealed) values ($1, $2, $3, $4, $5, $6) returning ${ENDPOINT_COLUMNS}`,
        [id, caller.tenantId, url.url, description, types, sealed],
      );
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action: AuditAction.WEBHOOK_ENDPOINT_CREATED,
        actor: actor(caller),
        resourceType: 'WebhookEndpoint',
        resourceId: id,
        details: { eventTypes: types.join(',') },
      });
      return inserted.rows[0]!;
    });
    if (!created) {
      await this.deps.vault.shred({ tenantId: caller.tenantId, ownerId: id });
      return { ok: false, userErrors: [problem(['input'], ProblemCode.LIMIT_REACHED, `a tenant may have at most ${MAX_ENDPOINTS} webhook endpoints`)] };
    }
    return { ok: true, value: { endpoint: created, secret } };
  }

  /** Deletes the endpoint, its pending deliveries and its log, and shreds its secret. */
  async delete(caller: Caller, id: string | null): Promise<Result<string>> {
    const gone = id
      ? await this.transaction(async (client) => {
          const { rowCount } = await client.query('delete from webhook_endpoint where id = $1 and tenant_id = $2', [id, caller.tenantId]);
          if (!rowCount) return false;
          await this.deps.audit.append(client, {
            tenantId: caller.tenantId,
            action: AuditAction.WEBHOOK_ENDPOINT_DELETED,
            actor: actor(caller),
            resourceType: 'WebhookEndpoint',
            resourceId: id,
          });
          return true;
        })
      : false;
    if (!gone) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'no webhook endpoint with this id')] };
    await this.deps.vault.shred({ tenantId: caller.tenantId, ownerId: id! });
    return { ok: true, value: id! };
  }

  /**
   * A new signing secret, returned once. The previous one keeps signing beside it for
   * {@link ROTATION_OVERLAP_HOURS} hours, so receivers can switch without losing a delivery.
   */
  async rotateSecret(caller: Caller, id: string | null): Promise<Result<{ endpoint: EndpointRecord; secret: string }>> {
    const notFound = { ok: false as const, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'no webhook endpoint with this id')] };
    if (!id) return notFound;
    const secret = newSigningSecret();
    const context = { tenantId: caller.tenantId, ownerId: id, purpose: SECRET_PURPOSE };
    const current = await this.deps.sql.query<{ id: string }>('select id from webhook_endpoint where id = $1 and tenant_id = $2', [id, caller.tenantId]);
    if (!current.rowCount) return notFound;
    const sealed = await this.deps.vault.seal(secret, context);
    const endpoint = await this.transaction(async (client) => {
      const { rows } = await client.query<EndpointRecord>(
        `update webhook_endpoint
         set previous_secret_sealed = secret_sealed, secret_sealed = $3, secret_rotated_at = now(),
             previous_secret_expires_at = now() + make_interval(hours => $4)
         where id = $1 and tenant_id = $2 returning ${ENDPOINT_COLUMNS}`,
        [id, caller.tenantId, sealed, ROTATION_OVERLAP_HOURS],
      );
      if (!rows[0]) return null;
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action: AuditAction.WEBHOOK_SECRET_ROTATED,
        actor: actor(caller),
        resourceType: 'WebhookEndpoint',
        resourceId: id,
      });
      return rows[0];
    });
    return endpoint ? { ok: true, value: { endpoint, secret } } : notFound;
  }

  async endpoint(caller: Caller, id: string | null): Promise<EndpointRecord | null> {
    if (!id) return null;
    const { rows } = await this.deps.sql.query<EndpointRecord>(`select ${ENDPOINT_COLUMNS} from webhook_endpoint where id = $1 and tenant_id = $2`, [
      id,
      caller.tenantId,
    ]);
    return rows[0] ?? null;
  }

  /** The tenant's endpoints, oldest first; `limit + 1` rows. */
  async endpoints(caller: Caller, limit: number, after?: { createdAt: Date; id: string }): Promise<EndpointRecord[]> {
    const { rows } = await this.deps.sql.query<EndpointRecord>(
      `select ${ENDPOINT_COLUMNS} from webhook_endpoint
       where tenant_id = $1 and ($2::timestamptz is null or (created_at, id) > ($2::timestamptz, $3::uuid))
       order by webhook_endpoint.created_at, webhook_endpoint.id limit $4`,
      [caller.tenantId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
    return rows;
  }

  /** Deliveries of the tenant (optionally of one endpoint, of one status), newest first. */
  async deliveries(
    caller: Caller,
    filter: { endpointId?: string | null; status?: DeliveryStatus | null },
    limit: number,
    after: string | null | undefined,
  ): Promise<{ deliveries: (DeliveryRecord & { cursor: string })[]; hasMore: boolean }> {
    const position = after ? decodeDeliveryCursor(after) : null;
    const { rows } = await this.deps.sql.query<DeliveryRecord>(
      `select ${DELIVERY_COLUMNS} from webhook_delivery
       where tenant_id = $1 and ($2::uuid is null or endpoint_id = $2) and ($3::text is null or status = $3)
         and ($4::timestamptz is null or (created_at, id) < ($4::timestamptz, $5::uuid))
       order by webhook_delivery.created_at desc, webhook_delivery.id desc limit $6`,
      [caller.tenantId, filter.endpointId ?? null, filter.status ?? null, position?.createdAt ?? null, position?.id ?? null, limit + 1],
    );
    return { deliveries: rows.slice(0, limit).map((d) => ({ ...d, cursor: encodeDeliveryCursor(d) })), hasMore: rows.length > limit };
  }

  async delivery(caller: Caller, id: string | null): Promise<DeliveryRecord | null> {
    if (!id) return null;
    const { rows } = await this.deps.sql.query<DeliveryRecord>(`select ${DELIVERY_COLUMNS} from webhook_delivery where id = $1 and tenant_id = $2`, [
      id,
      caller.tenantId,
    ]);
    return rows[0] ?? null;
  }

  /** The event a delivery carries, as the log answers it. */
  async event(caller: Caller, eventId: string): Promise<EventEntry | null> {
    const { rows } = await this.deps.sql.query<Omit<EventEntry, 'cursor'>>(`select ${EVENT_COLUMNS} from event where id = $1 and tenant_id = $2`, [
      eventId,
      caller.tenantId,
    ]);
    return rows[0] ? { ...rows[0], cursor: encodeEventCursor(rows[0].txid, rows[0].seq) } : null;
  }

  /** Every attempt of a delivery, oldest first (checked to belong to the caller by the parent delivery). */
  async attempts(deliveryId: string): Promise<AttemptRecord[]> {
    const { rows } = await this.deps.sql.query<AttemptRecord>(
      `select n, at, duration_ms as "durationMs", response_status as "responseStatus", error from webhook_attempt where delivery_id = $1 order by n`,
      [deliveryId],
    );
    return rows;
  }

  /**
   * Sends a delivery again: it becomes PENDING with a fresh retry window and goes out as soon as its
   * lane allows (deliveries of one resource stay in order). A delivery still pending is left as it is.
   */
  async replay(caller: Caller, id: string | null): Promise<Result<DeliveryRecord>> {
    const found = await this.delivery(caller, id);
    if (!found) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'no webhook delivery with this id')] };
    if (found.status === 'PENDING')
      return { ok: false, userErrors: [problem(['id'], ProblemCode.INVALID_STATE, 'the delivery is still pending: it will be sent without a replay')] };
    const replayed = await this.transaction(async (client) => {
      const { rows } = await client.query<DeliveryRecord>(
        `update webhook_delivery set status = 'PENDING', next_attempt_at = now(), first_attempt_at = null, delivered_at = null
         where id = $1 and tenant_id = $2 and status <> 'PENDING' returning ${DELIVERY_COLUMNS}`,
        [found.id, caller.tenantId],
      );
      if (!rows[0]) return null;
      // The lane becomes due now unless it is busy or waiting for a retry of an earlier delivery.
      await client.query(
        `insert into webhook_lane (endpoint_id, resource_id, due_at)
         select endpoint_id, resource_id, now() from webhook_delivery where id = $1
         on conflict (endpoint_id, resource_id) do update set due_at = least(coalesce(webhook_lane.due_at, now()), now()), version = webhook_lane.version + 1`,
        [found.id],
      );
      await this.deps.audit.append(client, {
        tenantId: caller.tenantId,
        action: AuditAction.WEBHOOK_DELIVERY_REPLAYED,
        actor: actor(caller),
        resourceType: 'WebhookDelivery',
        resourceId: found.id,
      });
      return rows[0];
    });
    if (!replayed) return { ok: false, userErrors: [problem(['id'], ProblemCode.INVALID_STATE, 'the delivery is already pending again')] };
    this.deps.wake();
    return { ok: true, value: replayed };
  }

  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.deps.sql, fn);
  }
}
