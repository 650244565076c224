// Unwrapped data keys cached in memory by two gateway instances on one database (and Redis when
// REDIS_URL is set): a shred or a rotation in one reaches the other's cache through the bus at
// once and, for an instance that missed the message, through the vault's change counter.
import type { SqlEntityManager } from '@mikro-orm/postgresql';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVault, VaultErrorCode, type SealContext, type VaultService } from '../../src/modules/vault';
import { createLogger } from '../../src/platform/logger';
import { withTenant } from '../../src/platform/tenant-scope';
import { hasRedis, startTestGateway, type TestGateway } from '../helpers/gateway';

let a: TestGateway;
let b: TestGateway;
/** A third process's vault that never joins the bus: only the change counter can tell it anything. */
let offBus: VaultService;
let tenantId: string;

const CHECK_MS = 200;

/** A test that calls the vault as the gateway's own code does: inside the tenant's database scope (row-level security). */
const scoped = (name: string, fn: () => Promise<void>) => it(name, () => withTenant(tenantId, fn));

beforeAll(async () => {
  a = await startTestGateway({ env: { VAULT_KEY_CACHE_CHECK_MS: String(CHECK_MS) } });
  // B trusts its cache for a minute without looking at the counter: only the bus can reach it in time.
  b = await startTestGateway({ sameDataAs: a, env: { VAULT_KEY_CACHE_CHECK_MS: '60000' } });
  offBus = await openVault({ config: a.config, orm: b.gateway.db.orm, logger: createLogger('silent') });
  ({ tenantId } = await a.createTenant('Vault cache'));
});

afterAll(async () => {
  await offBus?.close();
  await b?.close();
  await a?.close();
});

const ctx = (ownerId: string, purpose = 'bank-tokens'): SealContext => ({ tenantId, ownerId, purpose });
const sql = (query: string, params: unknown[] = []) => (a.gateway.db.orm.em.fork() as SqlEntityManager).execute(query, params);
const settle = () => new Promise((r) => setTimeout(r, CHECK_MS + 100));

async function expectCode(promise: Promise<unknown>, code: VaultErrorCode): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'VaultError', code });
}

describe('vault data key cache across instances', () => {
  scoped('refuses, in an instance that missed the bus message, a key shredded elsewhere as soon as the shred returns', async () => {
    const sealed = await a.gateway.services.vault.seal('token-of-consent-1', ctx('consent-1'));
    // Cached by the instance off the bus, then used again from memory.
    expect(await offBus.openText(sealed, ctx('consent-1'))).toBe('token-of-consent-1');
    expect(await offBus.openText(sealed, ctx('consent-1'))).toBe('token-of-consent-1');
    expect(await a.gateway.services.vault.shred({ tenantId, ownerId: 'consent-1' })).toEqual({ shredded: true });
    await expectCode(offBus.open(sealed, ctx('consent-1')), VaultErrorCode.KEY_SHREDDED);
    await expectCode(offBus.seal('new', ctx('consent-1')), VaultErrorCode.KEY_SHREDDED);
  });

  it.skipIf(!hasRedis)('drops a key shredded by another instance when the bus message arrives, before its own counter check is due', async () => {
    const vaultB = b.gateway.services.vault;
    const sealed = await vaultB.seal('token-of-consent-2', ctx('consent-2'));
    expect(await vaultB.openText(sealed, ctx('consent-2'))).toBe('token-of-consent-2');
    expect(await a.gateway.services.vault.shred({ tenantId, ownerId: 'consent-2' })).toEqual({ shredded: true });
    await expectCode(vaultB.open(sealed, ctx('consent-2')), VaultErrorCode.KEY_SHREDDED);
    await expectCode(vaultB.seal('new', ctx('consent-2')), VaultErrorCode.KEY_SHREDDED);
  });

  scoped('keeps a cached key from opening another tenant’s or owner’s value', async () => {
    const { tenantId: other } = await a.createTenant('Vault cache, other tenant');
    const sealed = await a.gateway.services.vault.seal('token-of-consent-3', ctx('consent-3'));
    expect(await offBus.openText(sealed, ctx('consent-3'))).toBe('token-of-consent-3');
    await expectCode(offBus.open(sealed, { tenantId: other, ownerId: 'consent-3', purpose: 'bank-tokens' }), VaultErrorCode.OPEN_FAILED);
    await expectCode(offBus.open(sealed, ctx('consent-4')), VaultErrorCode.OPEN_FAILED);
    await expectCode(offBus.open(sealed, ctx('consent-3', 'other-purpose')), VaultErrorCode.OPEN_FAILED);
  });

  scoped('reads a key again from the database in every instance after a rotation re-wrapped it', async () => {
    const vaultB = b.gateway.services.vault;
    const sealed = await a.gateway.services.vault.seal('token-of-consent-5', ctx('consent-5'));
    expect(await offBus.openText(sealed, ctx('consent-5'))).toBe('token-of-consent-5');
    expect(await vaultB.openText(sealed, ctx('consent-5'))).toBe('token-of-consent-5');
    const report = await a.gateway.services.vault.rotate();
    expect(report.rewrapped).toBeGreaterThan(0);
    // Spoil the re-wrapped row behind the vault's back (this moves no counter): an instance that
    // still used its cached copy would open; one that dropped it at the rotation reads this row.
    await sql('update vault_data_key set wrapped_key = ? where tenant_id = ? and owner_id = ?', [randomBytes(60), tenantId, 'consent-5']);
    await settle();
    await expectCode(offBus.open(sealed, ctx('consent-5')), VaultErrorCode.KEY_INTEGRITY);
    if (hasRedis) await expectCode(vaultB.open(sealed, ctx('consent-5')), VaultErrorCode.KEY_INTEGRITY);
  });

  scoped('makes a key shredded in a caller’s transaction unusable in every instance once shredCommitted returns', async () => {
    // consentRevoke's path: shred in the revocation's transaction, commit, then shredCommitted.
    const vaultA = a.gateway.services.vault;
    const sealed = await vaultA.seal('token-of-consent-6', ctx('consent-6'));
    expect(await offBus.openText(sealed, ctx('consent-6'))).toBe('token-of-consent-6');
    await (a.gateway.db.orm.em.fork() as SqlEntityManager).transactional(async (em) => {
      expect(await vaultA.shred({ tenantId, ownerId: 'consent-6' }, { em })).toEqual({ shredded: true });
    });
    await vaultA.shredCommitted();
    await expectCode(offBus.open(sealed, ctx('consent-6')), VaultErrorCode.KEY_SHREDDED);
  });
});
