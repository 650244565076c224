import type { EntityManager } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Environment } from '../../config';
import type { Caller } from '../../api/context';
import { UserErrorCode, userError, zodUserErrors, type UserError } from '../../api/user-errors';
import { afterPosition, type KeysetPosition } from '../../api/relay/connection';
import { ApiKey } from './api-key.entity';
import { EndUser } from './end-user.entity';
import { Tenant } from './tenant.entity';

/** Result of a mutation: the object, or the userErrors that explain why nothing was written. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; userErrors: UserError[] };

const KEY_PATTERN = /^pk_(sandbox|live)_[A-Za-z0-9_-]{43}$/;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const printable = (max: number) =>
  z
    .string()
    .transform((v) => v.trim())
    .pipe(
      z
        .string()
        .min(1, { message: 'BLANK:must not be blank' })
        .max(max, { message: `TOO_LONG:must be at most ${max} characters` })
        .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), { message: 'INVALID:must not contain control characters' }),
    );

const endUserInput = z.object({
  externalRef: printable(128),
  displayName: printable(200).nullish(),
});

const apiKeyInput = z.object({ name: printable(200) });

/** Tenants, their API keys and their end users. Every read and write is scoped to one tenant. */
export class TenancyService {
  /** Creates a tenant with its first API key; used by the operator CLI and the demo bootstrap. */
  async createTenant(
    em: EntityManager,
    input: { name: string; environment: Environment; isDemo?: boolean },
  ): Promise<{ tenant: Tenant; apiKey: ApiKey; secret: string }> {
    const name = printable(200).safeParse(input.name);
    if (!name.success) throw new Error(`Tenant name ${name.error.issues[0]?.message.split(':').pop()}`);
    return em.transactional(async (tx) => {
      const tenant = tx.create(Tenant, { name: name.data, environment: input.environment, isDemo: input.isDemo ?? false });
      const { apiKey, secret } = this.newKey(tx, tenant, 'Initial key');
      await tx.flush();
      return { tenant, apiKey, secret };
    });
  }

  /** Resolves a bearer key to its caller; null for a missing, malformed, unknown or revoked key. */
  async authenticate(em: EntityManager, key: string | undefined): Promise<Caller | null> {
    if (!key || !KEY_PATTERN.test(key)) return null;
    const apiKey = await em.findOne(ApiKey, { hash: hashApiKey(key), revokedAt: null }, { populate: ['tenant'] });
    if (!apiKey) return null;
    return { tenantId: apiKey.tenant.id, environment: apiKey.tenant.environment, apiKeyId: apiKey.id };
  }

  async tenant(em: EntityManager, caller: Caller): Promise<Tenant> {
    return em.findOneOrFail(Tenant, { id: caller.tenantId });
  }

  async createApiKey(em: EntityManager, caller: Caller, raw: { name: string }): Promise<Outcome<{ apiKey: ApiKey; secret: string }>> {
    const input = apiKeyInput.safeParse(raw);
    if (!input.success) return { ok: false, userErrors: zodUserErrors(input.error) };
    const tenant = em.getReference(Tenant, caller.tenantId);
    const created = this.newKey(em, tenant, input.data.name);
    await em.flush();
    return { ok: true, value: created };
  }

  async revokeApiKey(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<ApiKey>> {
    const apiKey = id ? await em.findOne(ApiKey, { id, tenant: caller.tenantId }) : null;
    if (!apiKey) return { ok: false, userErrors: [userError(['id'], UserErrorCode.NOT_FOUND, 'No API key with this id.')] };
    if (apiKey.revokedAt) {
      return { ok: false, userErrors: [userError(['id'], UserErrorCode.ALREADY_REVOKED, 'This API key is already revoked.')] };
    }
    apiKey.revokedAt = new Date();
    await em.flush();
    return { ok: true, value: apiKey };
  }

  async apiKeys(em: EntityManager, caller: Caller, limit: number, after?: KeysetPosition): Promise<ApiKey[]> {
    return em.find(
      ApiKey,
      { tenant: caller.tenantId, ...afterPosition(after) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }

  async apiKey(em: EntityManager, caller: Caller, id: string): Promise<ApiKey | null> {
    return em.findOne(ApiKey, { id, tenant: caller.tenantId });
  }

  async createEndUser(
    em: EntityManager,
    caller: Caller,
    raw: { externalRef: string; displayName?: string | null },
  ): Promise<Outcome<EndUser>> {
    const input = endUserInput.safeParse(raw);
    if (!input.success) return { ok: false, userErrors: zodUserErrors(input.error) };
    const taken = () => ({
      ok: false as const,
      userErrors: [userError(['input', 'externalRef'], UserErrorCode.TAKEN, 'An end user with this externalRef already exists.')],
    });
    if (await em.count(EndUser, { tenant: caller.tenantId, externalRef: input.data.externalRef })) return taken();
    const endUser = em.create(EndUser, {
      tenant: em.getReference(Tenant, caller.tenantId),
      externalRef: input.data.externalRef,
      displayName: input.data.displayName ?? null,
    });
    try {
      await em.flush();
    } catch (err) {
      // Two concurrent creations with one externalRef: the unique index decides, the loser is told.
      if (err instanceof UniqueConstraintViolationException) {
        em.clear();
        return taken();
      }
      throw err;
    }
    return { ok: true, value: endUser };
  }

  async endUsers(em: EntityManager, caller: Caller, limit: number, after?: KeysetPosition): Promise<EndUser[]> {
    return em.find(
      EndUser,
      { tenant: caller.tenantId, ...afterPosition(after) },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit },
    );
  }

  async endUser(em: EntityManager, caller: Caller, id: string): Promise<EndUser | null> {
    return em.findOne(EndUser, { id, tenant: caller.tenantId });
  }

  private newKey(em: EntityManager, tenant: Tenant, name: string): { apiKey: ApiKey; secret: string } {
    const secret = `pk_${tenant.environment}_${randomBytes(32).toString('base64url')}`;
    const apiKey = em.create(ApiKey, {
      tenant,
      name,
      prefix: secret.slice(0, `pk_${tenant.environment}_`.length + 6),
      hash: hashApiKey(secret),
    });
    return { apiKey, secret };
  }
}
