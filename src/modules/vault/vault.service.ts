import type { MikroORM, SqlEntityManager } from '@mikro-orm/postgresql';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { EventBus } from '../../platform/bus';
import type { Logger } from '../../platform/logger';
import type { Metrics, VaultOperation } from '../../platform/metrics';
import type { KmsProvider } from './kms/kms.provider';
import { dataKeyAad, decodeSealed, encodeSealed, gcmOpen, gcmSeal, masterKeyAad, sealAad } from './vault.crypto';
import { VaultError, VaultErrorCode } from './vault.errors';
import { DataKeyCache } from './vault.key-cache';

/** Whose data key: a consent or a payment authorisation of a tenant. */
export interface VaultOwner {
  /** Tenant id (uuid). */
  readonly tenantId: string;
  /** Consent or payment-authorisation id. */
  readonly ownerId: string;
}

/** Where a sealed value belongs: its owner and what it is (`access_token`, `refresh_token`, …). */
export interface SealContext extends VaultOwner {
  readonly purpose: string;
}

/**
 * Per-call options of seal, open, createDataKey and shred.
 */
export interface VaultCallOptions {
  /**
   * Run the vault's queries in the caller's transaction (e.g. shred in the same transaction as
   * the consent revocation). Required when the caller holds a transaction on embedded PGlite,
   * which serves one transaction at a time: a query on another connection would wait for ever.
   */
  readonly em?: SqlEntityManager;
}

/** Options of {@link VaultService.rotate}. */
export interface RotateOptions {
  /** Data keys re-wrapped per transaction (default 500). */
  batchSize?: number;
  /** Pause between batches, to keep an online rotation gentle on the database (default 0). */
  batchDelayMs?: number;
  /** Called after each committed batch. Throwing stops the rotation where it is (it stays resumable). */
  onBatch?: (progress: RotationProgress) => void | Promise<void>;
  /** Aborts between batches; the rotation stays resumable. */
  signal?: AbortSignal;
}

export interface RotationProgress {
  readonly rotationId: number;
  readonly toVersion: number;
  /** Data keys re-wrapped by this rotation so far (across resumes). */
  readonly rewrapped: number;
  readonly batches: number;
}

export interface RotationReport extends RotationProgress {
  /** True when this call continued a rotation an earlier run left unfinished. */
  readonly resumed: boolean;
  /** Master key versions retired (their wrapped material erased) by this call. */
  readonly retiredVersions: number[];
}

/** What `vault:rotate --status` prints. No secrets. */
export interface VaultStatus {
  readonly kms: { readonly kind: 'local' | 'gcp'; readonly keyId: string };
  readonly masterKeys: { version: number; state: string; dataKeys: number; kmsKeyVersion: string; createdAt: string }[];
  readonly shreddedDataKeys: number;
  readonly rotation: { id: number; toVersion: number; state: string; rewrapped: number; batches: number; resumes: number } | null;
}

interface DataKeyRow {
  id: string;
  tenant_id: string;
  owner_id: string;
  master_key_version: number | null;
  wrapped_key: Buffer | null;
  shredded_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OWNER_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PURPOSE = /^[a-z][a-z0-9_.-]{0,63}$/;
const ROTATION_LOCK_KEY = 4_242_004;
/** Bus topic naming data keys shredded or re-wrapped: every instance drops them and re-reads the change counter. */
export const VAULT_KEYS_TOPIC = 'vault.keys';

declare module '../../platform/bus' {
  interface BusTopicMap {
    /** The ids of the data keys shredded or re-wrapped. */
    [VAULT_KEYS_TOPIC]: { ids: string[] };
  }
}

/** The in-memory data key cache: how many keys, for how long, and the longest a process trusts it unchecked. */
export interface VaultKeyCacheSettings {
  /** Entries (0: no cache). */
  readonly max: number;
  /** Lifetime of an entry after its database read. */
  readonly ttlMs: number;
  /** Longest time cached keys are used without re-reading `vault_key_epoch`; a shred waits this long. */
  readonly checkMs: number;
}

const DEFAULT_KEY_CACHE: VaultKeyCacheSettings = { max: 1000, ttlMs: 300_000, checkMs: 200 };

/**
 * Envelope encryption for bank tokens (DESIGN D4).
 *
 * KMS key ─wraps→ master key (versioned, unwrapped once at start, memory only)
 *          ─wraps→ data key per consent/payment (row in `vault_data_key`)
 *          ─seals→ tokens, bound by AAD to tenant/owner/purpose.
 *
 * In memory: the master key versions, and up to `keyCache.max` unwrapped data keys for
 * `keyCache.ttlMs` (docs/vault-key-cache.md). Every shred and rotation batch bumps the counter in
 * `vault_key_epoch` in its own transaction and announces the keys on the bus; a process uses its
 * cached keys only while its last read of that counter is under `keyCache.checkMs` old, and a shred
 * waits that long before returning: once it returns, no process opens or seals with the key.
 */
export class VaultService {
  readonly #orm: MikroORM;
  readonly #logger: Logger;
  readonly #kms: KmsProvider;
  readonly #ownsKms: boolean;
  readonly #metrics: Pick<Metrics, 'vault'> | undefined;
  /** Unwrapped master key versions. Only ever filled from the KMS, zeroed on close. */
  readonly #masters = new Map<number, Promise<Buffer>>();
  #closed = false;
  #sweep: NodeJS.Timeout | undefined;
  readonly #cache: DataKeyCache;
  readonly #checkMs: number;
  /** Last value read from vault_key_epoch, and when (monotonic ms, taken before the read was sent). */
  #epoch: string | undefined;
  #epochReadAt = -Infinity;
  #epochCheck: Promise<void> | undefined;
  /** Bumped whenever cached keys may have gone stale: a key read under an older generation is not cached. */
  #generation = 0;
  #bus: EventBus | undefined;
  #unsubscribe: (() => void) | undefined;

  private constructor(
    orm: MikroORM,
    logger: Logger,
    kms: KmsProvider,
    ownsKms: boolean,
    metrics: Pick<Metrics, 'vault'> | undefined,
    keyCache: VaultKeyCacheSettings,
  ) {
    this.#orm = orm;
    this.#cache = new DataKeyCache(keyCache.max, keyCache.ttlMs);
    this.#checkMs = keyCache.checkMs;
    this.#metrics = metrics;
    this.#logger = logger.child({ module: 'vault' });
    this.#kms = kms;
    this.#ownsKms = ownsKms;
  }

  /**
   * Unwraps the active master key (one KMS call), creating version 1 on an empty database.
   * Older versions still being rotated away from are unwrapped on first use.
   */
  static async start(deps: {
    orm: MikroORM;
    logger: Logger;
    kms: KmsProvider;
    ownsKms?: boolean;
    /** How often to drop (and zero) master key versions another process retired; 0 = never (default 5 min). */
    retiredKeySweepMs?: number;
    /** Counts and times seal, open, shred, rotate and data key creation (never their inputs). */
    metrics?: Pick<Metrics, 'vault'>;
    /** Unwrapped data keys kept in memory (default 1000 keys, 5 min, checked every 200 ms). */
    keyCache?: VaultKeyCacheSettings;
  }): Promise<VaultService> {
    const vault = new VaultService(deps.orm, deps.logger, deps.kms, deps.ownsKms ?? false, deps.metrics, deps.keyCache ?? DEFAULT_KEY_CACHE);
    const sweepMs = deps.retiredKeySweepMs ?? 5 * 60_000;
    if (sweepMs > 0) {
      vault.#sweep = setInterval(() => {
        vault.forgetRetiredKeys().catch((err: unknown) => vault.#logger.warn({ err }, 'vault: retired key sweep failed'));
      }, sweepMs);
      vault.#sweep.unref();
    }
    try {
      let active = await vault.#activeVersion();
      if (active === undefined) active = await vault.#createFirstMasterKey();
      await vault.#master(active);
      vault.#logger.info({ masterKeyVersion: active, kms: deps.kms.kind, kmsKeyId: deps.kms.keyId }, 'vault open');
    } catch (err) {
      await vault.close();
      throw err;
    }
    return vault;
  }

  /**
   * Joins the other instances: data keys they shred or re-wrap are dropped from this process's
   * cache as soon as their message arrives (the change counter catches a missed one), and ours
   * reach them. Call once, after start; returns the function that leaves the bus (before it closes).
   */
  useBus(bus: EventBus): () => void {
    this.#bus = bus;
    const iterator = bus.pubSub.subscribe(VAULT_KEYS_TOPIC)[Symbol.asyncIterator]();
    this.#unsubscribe = () => void iterator.return?.();
    void (async () => {
      for (;;) {
        const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
        if (next.done || this.#closed) return;
        // Another instance's message came through Redis: keep only well-formed ids.
        const ids: unknown = next.value?.ids;
        this.#invalidate(Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string' && UUID.test(id)) : []);
      }
    })();
    return () => {
      this.#bus = undefined;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
    };
  }

  /**
   * After a transaction that shredded keys (`shred(…, { em })`) commits: tells every instance to
   * re-check now, and waits until every instance's cache has been checked since, so that
   * afterwards no process opens a value sealed with those keys.
   */
  async shredCommitted(): Promise<void> {
    this.#invalidate([]);
    this.#announce([]);
    if (this.#cache.enabled) await sleep(this.#checkMs);
  }

  /** The KMS in use (kind and key id; no secret). */
  get kms(): { kind: 'local' | 'gcp'; keyId: string } {
    return { kind: this.#kms.kind, keyId: this.#kms.keyId };
  }

  /**
   * Creates the owner's data key, wrapped by the active master key; returns the existing one when
   * there is one. Refuses an owner whose key was shredded.
   */
  createDataKey(owner: VaultOwner, options: VaultCallOptions = {}): Promise<{ id: string; masterKeyVersion: number }> {
    return this.#measured('create_data_key', () => this.#createDataKey(owner, options));
  }

  async #createDataKey(owner: VaultOwner, options: VaultCallOptions): Promise<{ id: string; masterKeyVersion: number }> {
    this.#checkOwner(owner);
    const row = await this.#dataKeyOf(owner, { create: true, em: options.em });
    return { id: row.id, masterKeyVersion: row.master_key_version! };
  }

  /**
   * Encrypts `plaintext` under the owner's data key (created on first use) with a fresh nonce,
   * bound to tenant, owner and purpose. Returns a string safe to store in a text column.
   */
  seal(plaintext: string | Buffer, context: SealContext, options: VaultCallOptions = {}): Promise<string> {
    return this.#measured('seal', () => this.#seal(plaintext, context, options));
  }

  async #seal(plaintext: string | Buffer, context: SealContext, options: VaultCallOptions): Promise<string> {
    this.#checkContext(context);
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    try {
      const ready = this.#cacheReady(options.em);
      if (ready === true || (ready !== false && (await ready))) {
        // No await between the lookup and the use: an eviction zeroes the key in place.
        const cached = this.#cache.getByOwner(context.tenantId, context.ownerId);
        if (cached) return encodeSealed(cached.id, gcmSeal(cached.key, data, sealAad(cached.id, context.tenantId, context.ownerId, context.purpose)));
      }
      for (let attempt = 0; ; attempt++) {
        const generation = this.#generation;
        const row = await this.#dataKeyOf(context, { create: true, em: options.em });
        try {
          const key = await this.#unwrapDataKey(row, options.em);
          try {
            if (!options.em) this.#remember(row, key, generation);
            return encodeSealed(row.id, gcmSeal(key, data, sealAad(row.id, context.tenantId, context.ownerId, context.purpose)));
          } finally {
            key.fill(0);
          }
        } catch (err) {
          // A rotation may have re-wrapped the key and retired its version since we read the row.
          if (attempt === 0 && err instanceof VaultError && err.code === VaultErrorCode.KEY_VERSION_UNKNOWN) continue;
          throw err;
        }
      }
    } finally {
      if (typeof plaintext === 'string') data.fill(0);
    }
  }

  /** Decrypts a sealed value; fails with a coded error, never garbage, if anything does not match. */
  open(sealed: string, context: SealContext, options: VaultCallOptions = {}): Promise<Buffer> {
    return this.#measured('open', () => this.#open(sealed, context, options));
  }

  async #open(sealed: string, context: SealContext, options: VaultCallOptions): Promise<Buffer> {
    this.#checkContext(context);
    const parsed = decodeSealed(sealed);
    if (!parsed) throw new VaultError(VaultErrorCode.MALFORMED_SEALED_VALUE, 'Not a sealed vault value');
    const ready = this.#cacheReady(options.em);
    if (ready === true || (ready !== false && (await ready))) {
      // No await between the lookup and the use: an eviction zeroes the key in place.
      const cached = this.#cache.get(parsed.dataKeyId);
      if (cached) {
        if (cached.tenantId !== context.tenantId || cached.ownerId !== context.ownerId) {
          throw new VaultError(VaultErrorCode.OPEN_FAILED, 'Sealed value does not belong to this tenant, owner and purpose');
        }
        try {
          return gcmOpen(cached.key, parsed.blob, sealAad(cached.id, context.tenantId, context.ownerId, context.purpose));
        } catch {
          throw new VaultError(VaultErrorCode.OPEN_FAILED, 'Sealed value does not authenticate (other purpose, or altered)');
        }
      }
    }
    for (let attempt = 0; ; attempt++) {
      const generation = this.#generation;
      const row = await this.#dataKeyById(parsed.dataKeyId, options.em);
      if (!row) throw new VaultError(VaultErrorCode.KEY_NOT_FOUND, 'No data key exists for this sealed value');
      // Checked before "shredded" so another tenant learns nothing about this key.
      if (row.tenant_id !== context.tenantId || row.owner_id !== context.ownerId) {
        throw new VaultError(VaultErrorCode.OPEN_FAILED, 'Sealed value does not belong to this tenant, owner and purpose');
      }
      try {
        const key = await this.#unwrapDataKey(row, options.em);
        if (!options.em) this.#remember(row, key, generation);
        try {
          return gcmOpen(key, parsed.blob, sealAad(row.id, context.tenantId, context.ownerId, context.purpose));
        } catch {
          throw new VaultError(VaultErrorCode.OPEN_FAILED, 'Sealed value does not authenticate (other purpose, or altered)');
        } finally {
          key.fill(0);
        }
      } catch (err) {
        if (attempt === 0 && err instanceof VaultError && err.code === VaultErrorCode.KEY_VERSION_UNKNOWN) continue;
        throw err;
      }
    }
  }

  /** {@link open}, decoded as UTF-8. */
  async openText(sealed: string, context: SealContext, options: VaultCallOptions = {}): Promise<string> {
    const bytes = await this.open(sealed, context, options);
    try {
      return bytes.toString('utf8');
    } finally {
      bytes.fill(0);
    }
  }

  /**
   * Crypto-shredding: erases the owner's data key, so every value sealed for it is unrecoverable.
   * The row stays as a tombstone (no key material). Idempotent; true when a key was erased now.
   */
  shred(owner: VaultOwner, options: VaultCallOptions = {}): Promise<{ shredded: boolean }> {
    return this.#measured('shred', () => this.#shred(owner, options));
  }

  async #shred(owner: VaultOwner, options: VaultCallOptions): Promise<{ shredded: boolean }> {
    this.#checkOwner(owner);
    this.#checkOpen();
    this.#cache.deleteOwner(owner.tenantId, owner.ownerId);
    // The counter moves in the same statement (so in the caller's transaction): no process can miss both it and the bus.
    const rows = await (options.em ?? this.#em()).execute<DataKeyRow[]>(
      `with shredded as (
         update vault_data_key set wrapped_key = null, master_key_version = null, shredded_at = now()
          where tenant_id = ? and owner_id = ? and shredded_at is null returning id),
       bumped as (update vault_key_epoch set epoch = epoch + 1 where id = 1 and exists (select 1 from shredded) returning epoch)
       select s.id from shredded s left join bumped on true`,
      [owner.tenantId, owner.ownerId],
    );
    const shredded = rows.length > 0;
    const ids = rows.map((r) => r.id);
    this.#invalidate(ids);
    if (shredded) {
      this.#logger.info({ tenantId: owner.tenantId, ownerId: owner.ownerId, dataKeyId: rows[0].id }, 'vault data key shredded');
      this.#announce(ids);
      // Every process re-reads the counter at least this often before using a cached key: once
      // this returns, none can still use this one. Inside a caller's transaction the counter only
      // moves at its commit: the caller calls shredCommitted() then.
      if (!options.em && this.#cache.enabled) await sleep(this.#checkMs);
    }
    return { shredded };
  }

  /**
   * Rotates the master key online: creates a new version (one KMS call), makes it the one new data
   * keys are wrapped with, re-wraps every data key in batches (token ciphertexts are not touched),
   * then retires the old versions and erases their wrapped material. If a rotation is unfinished
   * (crash, abort), this resumes it instead of starting another. One rotator at a time.
   */
  rotate(options: RotateOptions = {}): Promise<RotationReport> {
    return this.#measured('rotate', () => this.#rotate(options));
  }

  async #rotate(options: RotateOptions): Promise<RotationReport> {
    this.#checkOpen();
    const batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
      throw new VaultError(VaultErrorCode.INTERNAL, 'rotate: batchSize must be an integer between 1 and 100000');
    }
    const lock = new pg.Client({ connectionString: this.#orm.config.get('clientUrl') });
    await lock.connect();
    try {
      const { rows } = await lock.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [ROTATION_LOCK_KEY]);
      if (!rows[0].ok) throw new VaultError(VaultErrorCode.ROTATION_BUSY, 'Another process is rotating the vault master key');
      try {
        return await this.#rotateLocked(batchSize, options);
      } finally {
        await lock.query('select pg_advisory_unlock($1)', [ROTATION_LOCK_KEY]).catch(() => undefined);
      }
    } finally {
      await lock.end().catch(() => undefined);
    }
  }

  /** Master key versions, data key counts and the current rotation. */
  async status(): Promise<VaultStatus> {
    const em = this.#em();
    const masters = await em.execute<{ version: number; state: string; kms_key_version: string; created_at: Date; data_keys: string }[]>(
      `select m.version, m.state, m.kms_key_version, m.created_at,
              (select count(*) from vault_data_key d where d.master_key_version = m.version) as data_keys
         from vault_master_key m order by m.version`,
    );
    const [shredded] = await em.execute<{ n: string }[]>('select count(*) as n from vault_data_key where shredded_at is not null');
    const [rotation] = await em.execute<{ id: number; to_version: number; state: string; rewrapped: string; batches: number; resumes: number }[]>(
      'select id, to_version, state, rewrapped, batches, resumes from vault_rotation order by id desc limit 1',
    );
    return {
      kms: this.kms,
      masterKeys: masters.map((m) => ({
        version: m.version,
        state: m.state,
        dataKeys: Number(m.data_keys),
        kmsKeyVersion: m.kms_key_version,
        createdAt: new Date(m.created_at).toISOString(),
      })),
      shreddedDataKeys: Number(shredded.n),
      rotation: rotation
        ? {
            id: rotation.id,
            toVersion: rotation.to_version,
            state: rotation.state,
            rewrapped: Number(rotation.rewrapped),
            batches: rotation.batches,
            resumes: rotation.resumes,
          }
        : null,
    };
  }

  /**
   * Drops and zeroes the master key versions held in memory that a rotation (usually run by
   * `vault:rotate` in another process) has retired since. Runs on a timer; returns the versions.
   */
  async forgetRetiredKeys(): Promise<number[]> {
    if (this.#closed || this.#masters.size === 0) return [];
    const held = [...this.#masters.keys()];
    const rows = await this.#em().execute<{ version: number }[]>(
      `select version from vault_master_key where state = 'retired' and version in (${held.map(() => '?').join(', ')})`,
      held,
    );
    const versions = rows.map((r) => r.version).sort((a, b) => a - b);
    this.#dropMasters(versions);
    if (versions.length) this.#logger.info({ versions }, 'vault: retired master key versions zeroed in memory');
    return versions;
  }

  /** Zeroes every key held in memory and releases the KMS client. The vault refuses work after. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#unsubscribe?.();
    this.#cache.clear();
    const masters = await Promise.allSettled(this.#masters.values());
    for (const m of masters) if (m.status === 'fulfilled') m.value.fill(0);
    this.#masters.clear();
    if (this.#ownsKms) await this.#kms.close();
  }

  /** Runs a public operation, counted and timed when metrics are wired (errors are counted by their vault code). */
  #measured<T>(operation: VaultOperation, run: () => Promise<T>): Promise<T> {
    return this.#metrics ? this.#metrics.vault(operation, run) : run();
  }

  // ── master keys ───────────────────────────────────────────────────────────────────────────────

  #em(): SqlEntityManager {
    return this.#orm.em.fork() as SqlEntityManager;
  }

  async #activeVersion(em: SqlEntityManager = this.#em()): Promise<number | undefined> {
    const [row] = await em.execute<{ version: number }[]>(`select version from vault_master_key where state = 'active'`);
    return row?.version;
  }

  async #createFirstMasterKey(): Promise<number> {
    const key = randomBytes(32);
    try {
      const wrapped = await this.#kms.encrypt(key, masterKeyAad(1));
      const inserted = await this.#em().execute<{ version: number }[]>(
        `insert into vault_master_key (version, state, kms_provider, kms_key_id, kms_key_version, wrapped_key)
         values (1, 'active', ?, ?, ?, ?) on conflict (version) do nothing returning version`,
        [this.#kms.kind, this.#kms.keyId, wrapped.keyVersion, wrapped.ciphertext],
      );
      if (inserted.length === 1) {
        this.#masters.set(1, Promise.resolve(Buffer.from(key)));
        this.#logger.info({ masterKeyVersion: 1 }, 'vault master key created');
      }
    } finally {
      key.fill(0);
    }
    // Lost a race with another instance starting on the same empty database: use its key.
    const active = await this.#activeVersion();
    if (active === undefined) throw new VaultError(VaultErrorCode.INTERNAL, 'No active master key after creating one');
    return active;
  }

  /** The unwrapped master key `version`, from memory or (once per version) from the KMS. */
  #master(version: number, em?: SqlEntityManager): Promise<Buffer> {
    this.#checkOpen();
    let pending = this.#masters.get(version);
    if (!pending) {
      pending = this.#loadMaster(version, em);
      this.#masters.set(version, pending);
      // A failed unwrap (KMS outage) must not stick: the next call tries again.
      pending.catch(() => {
        if (this.#masters.get(version) === pending) this.#masters.delete(version);
      });
    }
    return pending;
  }

  async #loadMaster(version: number, em: SqlEntityManager = this.#em()): Promise<Buffer> {
    const [row] = await em.execute<{ wrapped_key: Buffer | null; kms_provider: string; kms_key_id: string }[]>(
      'select wrapped_key, kms_provider, kms_key_id from vault_master_key where version = ?',
      [version],
    );
    if (!row || !row.wrapped_key) {
      throw new VaultError(VaultErrorCode.KEY_VERSION_UNKNOWN, `Master key version ${version} does not exist or is retired`);
    }
    if (row.kms_provider !== this.#kms.kind || row.kms_key_id !== this.#kms.keyId) {
      throw new VaultError(
        VaultErrorCode.KMS_DECRYPT_FAILED,
        `Master key version ${version} is wrapped by ${row.kms_provider} key ${row.kms_key_id}, but the configured KMS is ${this.#kms.kind} key ${this.#kms.keyId}`,
      );
    }
    const key = await this.#kms.decrypt(row.wrapped_key, masterKeyAad(version));
    if (key.length !== 32) {
      key.fill(0);
      throw new VaultError(VaultErrorCode.KMS_DECRYPT_FAILED, `Master key version ${version} did not unwrap to a 256-bit key`);
    }
    if (this.#closed) {
      key.fill(0);
      throw new VaultError(VaultErrorCode.CLOSED, 'Vault is closed');
    }
    return key;
  }

  // ── data key cache ────────────────────────────────────────────────────────────────────────────

  /**
   * Whether cached keys may be used now: the change counter was read under `checkMs` ago (it is
   * re-read when not). Never inside a caller's transaction: those paths read the row.
   */
  #cacheReady(em?: SqlEntityManager): boolean | Promise<boolean> {
    if (em || !this.#cache.enabled) return false;
    this.#checkOpen();
    const age = performance.now() - this.#epochReadAt;
    if (age < this.#checkMs) {
      // Past half its age the counter is re-read in the background, so a busy process never waits for it.
      if (age >= this.#checkMs / 2) void this.#refreshEpoch().catch((err: unknown) => this.#logger.warn({ err }, 'vault: change counter read failed'));
      return true;
    }
    return this.#refreshEpoch().then(() => performance.now() - this.#epochReadAt < this.#checkMs);
  }

  /** One counter read at a time, shared by every caller waiting for it. */
  #refreshEpoch(): Promise<void> {
    this.#epochCheck ??= this.#checkEpoch().finally(() => {
      this.#epochCheck = undefined;
    });
    return this.#epochCheck;
  }

  /** Re-reads the change counter; when it moved, drops every cached key that was shredded or re-wrapped. */
  async #checkEpoch(): Promise<void> {
    const started = performance.now();
    const em = this.#em();
    const [row] = await em.execute<{ epoch: string }[]>('select epoch::text as epoch from vault_key_epoch where id = 1');
    const epoch = row?.epoch ?? '0';
    if (epoch !== this.#epoch) {
      this.#generation++;
      const held = this.#cache.entries();
      if (held.length > 0) {
        const rows = await em.execute<{ id: string; master_key_version: number | null }[]>(
          `select id, master_key_version from vault_data_key where shredded_at is null and id in (${held.map(() => '?').join(', ')})`,
          held.map((e) => e.id),
        );
        const current = new Map(rows.map((r) => [r.id, r.master_key_version]));
        for (const e of held) if (current.get(e.id) !== e.masterVersion) this.#cache.delete(e.id);
      }
      this.#epoch = epoch;
    }
    this.#epochReadAt = started;
  }

  /** Caches an unwrapped key unless something may have changed since its row was read (`generation` taken before the read). */
  #remember(row: DataKeyRow, key: Buffer, generation: number): void {
    if (generation !== this.#generation || this.#closed || !this.#cache.enabled) return;
    this.#cache.set({ id: row.id, tenantId: row.tenant_id, ownerId: row.owner_id, masterVersion: row.master_key_version! }, key);
  }

  /** Drops these keys and makes the next use re-read the change counter first. */
  #invalidate(ids: string[]): void {
    for (const id of ids) this.#cache.delete(id);
    this.#generation++;
    this.#epochReadAt = -Infinity;
  }

  /** Tells the other instances (best effort: the change counter is the guarantee). Ids only, never key material. */
  #announce(ids: string[]): void {
    this.#bus?.pubSub.publish(VAULT_KEYS_TOPIC, { ids });
  }

  // ── data keys ─────────────────────────────────────────────────────────────────────────────────

  async #dataKeyById(id: string, em: SqlEntityManager = this.#em()): Promise<DataKeyRow | undefined> {
    this.#checkOpen();
    const [row] = await em.execute<DataKeyRow[]>(
      'select id, tenant_id, owner_id, master_key_version, wrapped_key, shredded_at from vault_data_key where id = ?',
      [id],
    );
    return row;
  }

  async #dataKeyOf(owner: VaultOwner, options: { create: boolean; em?: SqlEntityManager }): Promise<DataKeyRow> {
    this.#checkOpen();
    const select = () =>
      (options.em ?? this.#em()).execute<DataKeyRow[]>(
        'select id, tenant_id, owner_id, master_key_version, wrapped_key, shredded_at from vault_data_key where tenant_id = ? and owner_id = ?',
        [owner.tenantId, owner.ownerId],
      );
    for (let attempt = 0; attempt < 5; attempt++) {
      const [row] = await select();
      if (row) {
        if (row.shredded_at) throw new VaultError(VaultErrorCode.KEY_SHREDDED, 'The data key of this owner was shredded');
        return row;
      }
      if (!options.create) throw new VaultError(VaultErrorCode.KEY_NOT_FOUND, 'This owner has no data key');
      await this.#insertDataKey(owner, options.em);
    }
    throw new VaultError(VaultErrorCode.INTERNAL, 'Could not create a data key (master key changing under us)');
  }

  /**
   * Inserts a data key wrapped by the active master key. The active row is locked FOR SHARE in the
   * same transaction, so a rotation that demotes it waits for us and then sees our key; if it was
   * demoted first, nothing is inserted and the caller retries with the new version.
   */
  async #insertDataKey(owner: VaultOwner, outer?: SqlEntityManager): Promise<void> {
    const version = await this.#activeVersion(outer);
    if (version === undefined) throw new VaultError(VaultErrorCode.KEY_VERSION_UNKNOWN, 'No active master key');
    const master = await this.#master(version, outer);
    const id = randomUUID();
    const key = randomBytes(32);
    try {
      const wrapped = gcmSeal(master, key, dataKeyAad(id, owner.tenantId, owner.ownerId, version));
      // Nested in the caller's transaction (a savepoint) when one is given.
      await (outer ?? this.#em()).transactional(async (em) => {
        const active = await em.execute(`select version from vault_master_key where version = ? and state = 'active' for share`, [version]);
        if (active.length === 0) return;
        await em.execute(
          `insert into vault_data_key (id, tenant_id, owner_id, master_key_version, wrapped_key)
           values (?, ?, ?, ?, ?) on conflict (tenant_id, owner_id) do nothing`,
          [id, owner.tenantId, owner.ownerId, version, wrapped],
        );
      });
    } catch (err) {
      if ((err as { code?: unknown }).code === '23503') {
        throw new VaultError(VaultErrorCode.INVALID_CONTEXT, 'Unknown tenant');
      }
      throw err;
    } finally {
      key.fill(0);
    }
  }

  async #unwrapDataKey(row: DataKeyRow, em?: SqlEntityManager): Promise<Buffer> {
    if (row.shredded_at || !row.wrapped_key || row.master_key_version == null) {
      throw new VaultError(VaultErrorCode.KEY_SHREDDED, 'The data key of this owner was shredded');
    }
    const version = row.master_key_version;
    const pending = this.#master(version, em);
    const master = await pending;
    try {
      return gcmOpen(master, row.wrapped_key, dataKeyAad(row.id, row.tenant_id, row.owner_id, version));
    } catch {
      // Retired (and zeroed) by a rotation in this process since the row was read: not tampering,
      // the caller re-reads the row, now re-wrapped under the new version.
      if (this.#masters.get(version) !== pending) {
        this.#checkOpen();
        throw new VaultError(VaultErrorCode.KEY_VERSION_UNKNOWN, `Master key version ${version} was retired meanwhile`);
      }
      throw new VaultError(VaultErrorCode.KEY_INTEGRITY, `Data key ${row.id} does not authenticate under master key version ${row.master_key_version}`);
    }
  }

  // ── rotation ──────────────────────────────────────────────────────────────────────────────────

  async #rotateLocked(batchSize: number, options: RotateOptions): Promise<RotationReport> {
    let [rotation] = await this.#em().execute<{ id: number; to_version: number }[]>(`select id, to_version from vault_rotation where state = 'running'`);
    const resumed = rotation !== undefined;
    if (rotation) {
      await this.#em().execute('update vault_rotation set resumes = resumes + 1, updated_at = now() where id = ?', [rotation.id]);
      this.#logger.info({ rotationId: rotation.id, toVersion: rotation.to_version }, 'vault rotation resumed');
    } else {
      rotation = await this.#startRotation();
    }
    const toVersion = rotation.to_version;
    const newMaster = await this.#master(toVersion);
    let progress: RotationProgress = { rotationId: rotation.id, toVersion, rewrapped: 0, batches: 0 };
    const retiredVersions: number[] = [];

    for (;;) {
      options.signal?.throwIfAborted();
      // Unwrap every version being rotated away from before the transaction: no KMS call (nor a
      // second connection) may happen inside it.
      const retiring = await this.#em().execute<{ version: number }[]>(`select version from vault_master_key where state = 'retiring'`);
      await Promise.all(retiring.map((r) => this.#master(r.version)));
      const ready = new Set([toVersion, ...retiring.map((r) => r.version)]);
      const moved = await this.#em().transactional(async (em) => {
        const rows = await em.execute<DataKeyRow[]>(
          `select id, tenant_id, owner_id, master_key_version, wrapped_key, shredded_at from vault_data_key
            where master_key_version is not null and master_key_version <> ?
            order by master_key_version, id limit ? for update skip locked`,
          [toVersion, batchSize],
        );
        for (const row of rows) {
          if (!ready.has(row.master_key_version!)) {
            throw new VaultError(
              VaultErrorCode.KEY_VERSION_UNKNOWN,
              `Data key ${row.id} is under master key version ${row.master_key_version}, which is neither active nor retiring`,
            );
          }
          const key = await this.#unwrapDataKey(row);
          try {
            const wrapped = gcmSeal(newMaster, key, dataKeyAad(row.id, row.tenant_id, row.owner_id, toVersion));
            await em.execute('update vault_data_key set master_key_version = ?, wrapped_key = ?, rewrapped_at = now() where id = ?', [
              toVersion,
              wrapped,
              row.id,
            ]);
          } finally {
            key.fill(0);
          }
        }
        if (rows.length > 0) await em.execute('update vault_key_epoch set epoch = epoch + 1 where id = 1');
        const [counts] = await em.execute<{ rewrapped: string; batches: number }[]>(
          `update vault_rotation set rewrapped = rewrapped + ?, batches = batches + 1, updated_at = now()
            where id = ? returning rewrapped, batches`,
          [rows.length, rotation.id],
        );
        return { n: rows.length, ids: rows.map((r) => r.id), rewrapped: Number(counts.rewrapped), batches: counts.batches };
      });
      // Cached copies of the re-wrapped keys are dropped here now and elsewhere at the message (or the counter).
      if (moved.n > 0) {
        this.#invalidate(moved.ids);
        this.#announce(moved.ids);
      }
      progress = { rotationId: rotation.id, toVersion, rewrapped: moved.rewrapped, batches: moved.batches };
      if (moved.n > 0) {
        this.#logger.info(progress, 'vault rotation batch re-wrapped');
        await options.onBatch?.(progress);
      }
      if (moved.n < batchSize) {
        // Keys locked by a concurrent shred were skipped: retire what is empty, loop for the rest.
        const retired = await this.#retireEmptyVersions(toVersion);
        retiredVersions.push(...retired);
        const [left] = await this.#em().execute<{ n: string }[]>(`select count(*) as n from vault_master_key where state = 'retiring'`);
        if (Number(left.n) === 0) break;
      }
      if (options.batchDelayMs) await sleep(options.batchDelayMs, undefined, { signal: options.signal });
    }

    await this.#em().execute(`update vault_rotation set state = 'done', finished_at = now(), updated_at = now() where id = ?`, [rotation.id]);
    this.#logger.info({ ...progress, retiredVersions }, 'vault rotation finished');
    return { ...progress, resumed, retiredVersions };
  }

  /** Creates master key version N+1 (one KMS call) and makes it active, demoting the old one. */
  async #startRotation(): Promise<{ id: number; to_version: number }> {
    const [max] = await this.#em().execute<{ v: number | null }[]>('select max(version) as v from vault_master_key');
    const version = (max.v ?? 0) + 1;
    const key = randomBytes(32);
    try {
      const wrapped = await this.#kms.encrypt(key, masterKeyAad(version));
      const rotation = await this.#em().transactional(async (em) => {
        await em.execute(`update vault_master_key set state = 'retiring' where state = 'active'`);
        await em.execute(
          `insert into vault_master_key (version, state, kms_provider, kms_key_id, kms_key_version, wrapped_key)
           values (?, 'active', ?, ?, ?, ?)`,
          [version, this.#kms.kind, this.#kms.keyId, wrapped.keyVersion, wrapped.ciphertext],
        );
        const [row] = await em.execute<{ id: number; to_version: number }[]>(
          `insert into vault_rotation (to_version, state) values (?, 'running') returning id, to_version`,
          [version],
        );
        return row;
      });
      this.#masters.set(version, Promise.resolve(Buffer.from(key)));
      this.#logger.info({ rotationId: rotation.id, toVersion: version, kmsKeyVersion: wrapped.keyVersion }, 'vault rotation started');
      return rotation;
    } finally {
      key.fill(0);
    }
  }

  /** Retires every `retiring` version no data key refers to any more, erasing its wrapped key. */
  async #retireEmptyVersions(toVersion: number): Promise<number[]> {
    const rows = await this.#em().execute<{ version: number }[]>(
      `update vault_master_key m set state = 'retired', wrapped_key = null, retired_at = now()
        where m.state = 'retiring' and m.version <> ?
          and not exists (select 1 from vault_data_key d where d.master_key_version = m.version)
        returning m.version`,
      [toVersion],
    );
    const versions = rows.map((r) => r.version).sort((a, b) => a - b);
    this.#dropMasters(versions);
    return versions;
  }

  /** Forgets then zeroes master keys; an unwrap that raced with this retries (see #unwrapDataKey). */
  #dropMasters(versions: number[]): void {
    for (const v of versions) {
      const pending = this.#masters.get(v);
      this.#masters.delete(v);
      void pending?.then(
        (k) => k.fill(0),
        () => undefined,
      );
    }
  }

  // ── checks ────────────────────────────────────────────────────────────────────────────────────

  #checkOpen(): void {
    if (this.#closed) throw new VaultError(VaultErrorCode.CLOSED, 'Vault is closed');
  }

  #checkOwner(owner: VaultOwner): void {
    if (!owner || typeof owner.tenantId !== 'string' || !UUID.test(owner.tenantId)) {
      throw new VaultError(VaultErrorCode.INVALID_CONTEXT, 'tenantId must be a lower-case UUID');
    }
    if (typeof owner.ownerId !== 'string' || !OWNER_ID.test(owner.ownerId)) {
      throw new VaultError(VaultErrorCode.INVALID_CONTEXT, 'ownerId must be 1–128 characters of [A-Za-z0-9._:-]');
    }
  }

  #checkContext(context: SealContext): void {
    this.#checkOwner(context);
    if (typeof context.purpose !== 'string' || !PURPOSE.test(context.purpose)) {
      throw new VaultError(VaultErrorCode.INVALID_CONTEXT, 'purpose must match [a-z][a-z0-9_.-]{0,63}');
    }
  }
}
