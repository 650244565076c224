import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Environment } from '../../config';
import type { Caller } from '../../kernel/caller';
import { type Problem, ProblemCode, problem, zodProblems } from '../../kernel/problems';
import { afterPosition, type KeysetPosition } from '../../kernel/keyset';
import { ApiKey } from './api-key.entity';
import { EndUser } from './end-user.entity';
import { AuditAction, type AuditService } from '../audit';
import { RedirectUri } from './redirect-uri.entity';
import { Tenant } from './tenant.entity';
import { asSystem } from '../../platform/tenant-scope';
import type { Outcome } from '../../kernel/problems';

/** A tenant's public handle: 3–40 lowercase letters, digits and single hyphens, starting with a letter. */
export const TENANT_HANDLE = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){2,39}$/;

const KEY_PATTERN = /^pk_(sandbox|live)_[A-Za-z0-9_-]{43}$/;
/** How long an authenticated key is remembered by one process (see `authenticate`). */
export const KEY_MEMORY_MS = 2_000;

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
        // eslint-disable-next-line no-control-regex -- control characters are what this refuses
        .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), { message: 'INVALID:must not contain control characters' }),
    );

const endUserInput = z.object({
  externalRef: printable(128),
  displayName: printable(200).nullish(),
});

const apiKeyInput = z.object({ name: printable(200) });

/** Tenants, their API keys and their end users. Every read and write is scoped to one tenant. */
export class TenancyService {
  /** `audit` journals key management; operator tools may do without it. */
  /** Authenticated keys for a moment: most requests then cost no key lookup. Revocation clears it here at once. */
  private readonly recentKeys = new Map<string, { caller: Caller; until: number }>();

  constructor(
    private readonly audit?: AuditService,
    /** When given, keys are looked up with one plain (prepared) SQL statement on this pool. */
    private readonly sql?: Pick<pg.Pool, 'query'>,
    private readonly prepared = false,
  ) {}

  /** Creates a tenant with its first API key; used by the operator CLI and the demo bootstrap. */
  async createTenant(
    em: EntityManager,
    input: { name: string; environment: Environment; isDemo?: boolean; handle?: string },
  ): Promise<{ tenant: Tenant; apiKey: ApiKey; secret: string }> {
    const name = printable(200).safeParse(input.name);
    if (!name.success) throw new Error(`Tenant name ${name.error.issues[0]?.message.split(':').pop()}`);
    if (input.handle !== undefined && !TENANT_HANDLE.test(input.handle))
      throw new Error('Tenant handle must be 3–40 lowercase letters, digits and single hyphens, starting with a letter');
    // Operators and the demo set-up create tenants: no caller tenant exists yet.
    return asSystem('create tenant', () =>
      em.transactional(async (tx) => {
        const tenant = tx.create(Tenant, { name: name.data, environment: input.environment, isDemo: input.isDemo ?? false, handle: input.handle ?? null });
        const { apiKey, secret } = this.newKey(tx, tenant, 'Initial key');
        await tx.flush();
        return { tenant, apiKey, secret };
      }),
    );
  }

  /**
   * Resolves a bearer key to its caller; null for a missing, malformed, unknown or revoked key.
   * A key that authenticated is remembered for {@link KEY_MEMORY_MS}: revoking it clears that
   * memory in this process at once; another instance may accept it for at most that long.
   */
  async authenticate(em: EntityManager, key: string | undefined): Promise<Caller | null> {
    // The key decides the tenant, so its lookup cannot be scoped to one yet.
    return asSystem('API key authentication', () => this.#authenticate(em, key));
  }

  async #authenticate(em: EntityManager, key: string | undefined): Promise<Caller | null> {
    if (!key || !KEY_PATTERN.test(key)) return null;
    const hash = hashApiKey(key);
    const now = Date.now();
    const remembered = this.recentKeys.get(hash);
    if (remembered && remembered.until > now) return remembered.caller;
    const text =
      'select k.id, k.tenant_id, t.environment, k.last_used_at from api_key k join tenant t on t.id = k.tenant_id where k.hash = $1 and k.revoked_at is null';
    type Row = { id: string; tenant_id: string; environment: Environment; last_used_at: Date | null };
    const rows: Row[] = this.sql
      ? (await this.sql.query<Row>({ ...(this.prepared ? { name: 'api-key-auth' } : {}), text, values: [hash] })).rows
      : await em.getConnection().execute(text.replace('$1', '?'), [hash]);
    const apiKey = rows[0];
    if (!apiKey) {
      this.recentKeys.delete(hash);
      return null;
    }
    if (!apiKey.last_used_at || new Date(apiKey.last_used_at).getTime() < now - 60_000) {
      // At most one write per key and minute; a lost update only makes the timestamp a minute older.
      await em
        .getConnection()
        .execute(`update api_key set last_used_at = now() where id = ? and (last_used_at is null or last_used_at < now() - interval '1 minute')`, [apiKey.id])
        .catch(() => undefined);
    }
    const caller: Caller = { tenantId: apiKey.tenant_id, environment: apiKey.environment, apiKeyId: apiKey.id };
    if (this.recentKeys.size >= 10_000) this.recentKeys.clear();
    this.recentKeys.set(hash, { caller, until: now + KEY_MEMORY_MS });
    return caller;
  }

  async tenant(em: EntityManager, caller: Caller): Promise<Tenant> {
    return em.findOneOrFail(Tenant, { id: caller.tenantId });
  }

  /** Sets the tenant's public handle, by which other tenants invite it to access grants. */
  async setHandle(em: EntityManager, caller: Caller, raw: string): Promise<Outcome<Tenant>> {
    const field = ['input', 'handle'];
    if (typeof raw !== 'string' || !TENANT_HANDLE.test(raw)) {
      return {
        ok: false,
        userErrors: [problem(field, ProblemCode.INVALID, 'must be 3–40 lowercase letters, digits and single hyphens, starting with a letter')],
      };
    }
    const tenant = await this.tenant(em, caller);
    const before = tenant.handle;
    tenant.handle = raw;
    this.audit?.add(em, {
      tenantId: caller.tenantId,
      action: AuditAction.TENANT_HANDLE_SET,
      actor: `apiKey:${caller.apiKeyId}`,
      resourceType: 'Tenant',
      resourceId: caller.tenantId,
      details: { handle: raw, previous: before },
    });
    try {
      await em.flush();
    } catch (err) {
      if (!(err instanceof UniqueConstraintViolationException)) throw err;
      em.clear();
      return { ok: false, userErrors: [problem(field, ProblemCode.TAKEN, 'another tenant has this handle')] };
    }
    return { ok: true, value: tenant };
  }

  async createApiKey(em: EntityManager, caller: Caller, raw: { name: string }): Promise<Outcome<{ apiKey: ApiKey; secret: string }>> {
    const input = apiKeyInput.safeParse(raw);
    if (!input.success) return { ok: false, userErrors: zodProblems(input.error) };
    const tenant = em.getReference(Tenant, caller.tenantId);
    const created = this.newKey(em, tenant, input.data.name, caller.environment);
    this.audit?.add(em, {
      tenantId: caller.tenantId,
      action: AuditAction.API_KEY_CREATED,
      actor: `apiKey:${caller.apiKeyId}`,
      resourceType: 'ApiKey',
      resourceId: created.apiKey.id,
      details: { prefix: created.apiKey.prefix },
    });
    await em.flush();
    return { ok: true, value: created };
  }

  async revokeApiKey(em: EntityManager, caller: Caller, id: string | null): Promise<Outcome<ApiKey>> {
    const apiKey = id ? await em.findOne(ApiKey, { id, tenant: caller.tenantId }) : null;
    if (!apiKey) return { ok: false, userErrors: [problem(['id'], ProblemCode.NOT_FOUND, 'No API key with this id.')] };
    if (apiKey.revokedAt) {
      return { ok: false, userErrors: [problem(['id'], ProblemCode.ALREADY_REVOKED, 'This API key is already revoked.')] };
    }
    apiKey.revokedAt = new Date();
    for (const [hash, entry] of this.recentKeys) if (entry.caller.apiKeyId === apiKey.id) this.recentKeys.delete(hash);
    this.audit?.add(em, {
      tenantId: caller.tenantId,
      action: AuditAction.API_KEY_REVOKED,
      actor: `apiKey:${caller.apiKeyId}`,
      resourceType: 'ApiKey',
      resourceId: apiKey.id,
      details: { prefix: apiKey.prefix },
    });
    await em.flush();
    return { ok: true, value: apiKey };
  }

  async apiKeys(em: EntityManager, caller: Caller, limit: number, after?: KeysetPosition): Promise<ApiKey[]> {
    return em.find(ApiKey, { tenant: caller.tenantId, ...afterPosition(after) }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit });
  }

  async apiKey(em: EntityManager, caller: Caller, id: string): Promise<ApiKey | null> {
    return em.findOne(ApiKey, { id, tenant: caller.tenantId });
  }

  async createEndUser(em: EntityManager, caller: Caller, raw: { externalRef: string; displayName?: string | null }): Promise<Outcome<EndUser>> {
    const input = endUserInput.safeParse(raw);
    if (!input.success) return { ok: false, userErrors: zodProblems(input.error) };
    const taken = () => ({
      ok: false as const,
      userErrors: [problem(['input', 'externalRef'], ProblemCode.TAKEN, 'An end user with this externalRef already exists.')],
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
    return em.find(EndUser, { tenant: caller.tenantId, ...afterPosition(after) }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit });
  }

  async endUser(em: EntityManager, caller: Caller, id: string): Promise<EndUser | null> {
    return em.findOne(EndUser, { id, tenant: caller.tenantId });
  }

  /** The tenant's allowed redirect URIs, in the order they were added. */
  async redirectUris(em: EntityManager, caller: Caller): Promise<string[]> {
    const rows = await em.find(RedirectUri, { tenant: caller.tenantId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
    return rows.map((r) => r.uri);
  }

  /** Adds a URI to the allow-list; adding one already there changes nothing. */
  async addRedirectUri(em: EntityManager, caller: Caller, raw: string): Promise<Outcome<string[]>> {
    const checked = checkRedirectUri(raw, caller.environment);
    if (!checked.ok) return { ok: false, userErrors: [checked.error] };
    const exists = await em.count(RedirectUri, { tenant: caller.tenantId, uri: checked.uri });
    if (!exists) {
      em.create(RedirectUri, { tenant: em.getReference(Tenant, caller.tenantId), uri: checked.uri });
      try {
        await em.flush();
      } catch (err) {
        if (!(err instanceof UniqueConstraintViolationException)) throw err; // a concurrent add won: same result
        em.clear();
      }
    }
    return { ok: true, value: await this.redirectUris(em, caller) };
  }

  async removeRedirectUri(em: EntityManager, caller: Caller, raw: string): Promise<Outcome<string[]>> {
    const uri = normaliseUri(raw);
    const row = uri ? await em.findOne(RedirectUri, { tenant: caller.tenantId, uri }) : null;
    if (!row) return { ok: false, userErrors: [problem(['input', 'uri'], ProblemCode.NOT_FOUND, 'This URI is not in the allow-list.')] };
    await em.remove(row).flush();
    return { ok: true, value: await this.redirectUris(em, caller) };
  }

  /**
   * Whether end users may be sent back to `uri`: listed exactly by the tenant, or, for sandbox
   * tenants, any http(s) URI on localhost / 127.0.0.1 (developers' machines).
   */
  async isRedirectUriAllowed(em: EntityManager, caller: Caller, raw: string): Promise<boolean> {
    const checked = checkRedirectUri(raw, caller.environment);
    if (!checked.ok) return false;
    if (caller.environment === 'sandbox' && isLoopback(new URL(checked.uri))) return true;
    return (await em.count(RedirectUri, { tenant: caller.tenantId, uri: checked.uri })) > 0;
  }

  private newKey(em: EntityManager, tenant: Tenant, name: string, environment: Environment = tenant.environment): { apiKey: ApiKey; secret: string } {
    const secret = `pk_${environment}_${randomBytes(32).toString('base64url')}`;
    const apiKey = em.create(ApiKey, {
      tenant,
      name,
      prefix: secret.slice(0, `pk_${environment}_`.length + 6),
      hash: hashApiKey(secret),
    });
    return { apiKey, secret };
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const isLoopback = (u: URL) => LOOPBACK_HOSTS.has(u.hostname);

function normaliseUri(raw: string): string | null {
  try {
    return new URL(raw.trim()).href;
  } catch {
    return null;
  }
}

/**
 * Checks a redirect URI: absolute http(s), no credentials, no fragment, at most 2048 characters;
 * https only for live tenants; plain http only to loopback for sandbox tenants.
 */
export function checkRedirectUri(raw: string, environment: Environment): { ok: true; uri: string } | { ok: false; error: Problem } {
  const field = ['input', 'uri'];
  const invalid = (message: string) => ({ ok: false as const, error: problem(field, ProblemCode.INVALID, message) });
  if (raw.length > 2048) return { ok: false, error: problem(field, ProblemCode.TOO_LONG, 'must be at most 2048 characters') };
  const href = normaliseUri(raw);
  if (!href) return invalid('must be an absolute URL');
  const u = new URL(href);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return invalid('must be an http(s) URL');
  if (u.username || u.password) return invalid('must not contain credentials');
  if (u.hash) return invalid('must not contain a fragment');
  if (u.protocol === 'http:' && (environment === 'live' || !isLoopback(u))) {
    return {
      ok: false,
      error: problem(
        field,
        ProblemCode.INSECURE_URL,
        environment === 'live' ? 'live tenants accept https URIs only' : 'plain http is accepted for localhost and 127.0.0.1 only',
      ),
    };
  }
  return { ok: true, uri: href };
}
