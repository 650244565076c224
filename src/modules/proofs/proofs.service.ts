import type { EntityManager } from '@mikro-orm/postgresql';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import type { KeysetPosition } from '../../kernel/keyset';
import type { Jobs } from '../../platform/jobs';
import type { Logger } from '../../platform/logger';
import type { VaultService } from '../vault';
import { canonicalJson, sha256Hex, type ProofAnchorPayload, type ProofBody, type ProofExport, type ProofInput, type ProofLink } from './proof';
import { ProofRecordEntity } from './proof-record.entity';

export const PROOF_PURGE_QUEUE = 'proof-retention-purge';
/** Links in one export (and at most in `proof(id)`'s path): from the record towards the head. */
export const MAX_EXPORT_PATH = 1000;
const PURGE_BATCH = 5_000;
const ANCHOR_ALG = 'ES256';

/** A stored record: its link in the chain plus the columns lists are filtered and ordered by. */
export interface ProofRow extends ProofLink, KeysetPosition {
  tenantId: string;
  subjectKind: string;
  subjectId: string;
  event: string;
  retainUntil: Date;
}

const ROW_COLUMNS = `id, tenant_id as "tenantId", seq::text as seq, subject_kind as "subjectKind", subject_id as "subjectId", event, body,
  body_sha256 as "bodySha256", prev_sha256 as "prevSha256", record_sha256 as "recordSha256", created_at as "createdAt", retain_until as "retainUntil"`;

/** A plain client (or pool) inside the caller's open transaction. */
export type ProofSql = Pick<pg.PoolClient, 'query'>;

/** Where an appended record landed in its tenant's chain. */
export interface AppendedProof {
  id: string;
  seq: string;
  prevSha256: string;
  recordSha256: string;
}

export interface ProofsDeps {
  sql: pg.Pool;
  /** PROOF_RETENTION_YEARS: fixed into each record's `retainUntil` when written. */
  retentionYears: number;
  /** Seals each tenant's proof-signing private key. */
  vault: VaultService;
  /** Where the signing keys are published (`<publicUrl>/proofs/keys/<kid>`). */
  publicUrl: string;
  jobs: Jobs | null;
  logger: Logger;
}

interface SigningKey {
  kid: string;
  jwk: JWK;
  privateKey: CryptoKey | Uint8Array;
}

/**
 * Proof records (docs/proofs.md): who authorised, approved, rejected or changed what, with the
 * SHA-256 of the canonical document and the actor's signature, appended to the tenant's hash
 * chain in the same transaction as the change they prove. The chain itself (sequence, previous
 * hash, record hash, lock) is kept by the database's insert trigger, so both ways of writing
 * below give the same chain.
 */
export class ProofsService {
  readonly #keys = new Map<string, Promise<SigningKey>>();

  constructor(protected readonly deps: ProofsDeps) {}

  /** Declares the daily retention purge and, with `work`, runs it in this process. */
  async start(options: { work: boolean }): Promise<void> {
    const jobs = this.deps.jobs;
    if (!jobs) return;
    await jobs.define(PROOF_PURGE_QUEUE, { retryLimit: 3, retryDelay: 60, expireInSeconds: 600 });
    await jobs.schedule(PROOF_PURGE_QUEUE, '17 3 * * *');
    if (options.work) {
      await jobs.work(PROOF_PURGE_QUEUE, { concurrency: 1, pollingIntervalSeconds: 60 }, async () => {
        const purged = await this.purge();
        if (purged > 0) this.deps.logger.info({ purged }, 'proof records past their retention deleted');
      });
    }
  }

  /**
   * Deletes the records whose `retainUntil` has passed (the only deletion the table allows), in
   * batches. Chain heads stay: later records keep linking to the hash of a purged one, and an
   * export starts from the record asked for, taking its `prevSha256` as given.
   */
  async purge(): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.deps.sql.query(
        `delete from proof_record where id in (select id from proof_record where retain_until < now() limit ${PURGE_BATCH})`,
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < PURGE_BATCH) return total;
    }
  }

  // --- reads -----------------------------------------------------------------------------------

  async get(caller: Caller, id: string): Promise<ProofRow | null> {
    const { rows } = await this.deps.sql.query<ProofRow>(`select ${ROW_COLUMNS} from proof_record where tenant_id = $1 and id = $2`, [caller.tenantId, id]);
    return rows[0] ?? null;
  }

  /** The chain from `from` (included) towards the head, at most `limit` links; `limit + 1` rows tell whether more follow. */
  async path(caller: Caller, from: ProofRow, limit: number): Promise<ProofRow[]> {
    const { rows } = await this.deps.sql.query<ProofRow>(
      `select ${ROW_COLUMNS} from proof_record where tenant_id = $1 and seq >= $2 order by proof_record.seq limit $3`,
      [caller.tenantId, from.seq, limit + 1],
    );
    return rows;
  }

  /** Records about one payment or consent (its internal id), oldest first; `limit + 1` rows. */
  async list(caller: Caller, subjectId: string, limit: number, after?: KeysetPosition): Promise<ProofRow[]> {
    const { rows } = await this.deps.sql.query<ProofRow>(
      `select ${ROW_COLUMNS} from proof_record
       where tenant_id = $1 and subject_id = $2 and ($3::timestamptz is null or (created_at, id) > ($3::timestamptz, $4::uuid))
       order by created_at, id limit $5`,
      [caller.tenantId, subjectId, after?.createdAt ?? null, after?.id ?? null, limit + 1],
    );
    return rows;
  }

  async headSeq(tenantId: string): Promise<string> {
    const { rows } = await this.deps.sql.query<{ seq: string }>('select head_seq::text as seq from proof_chain where tenant_id = $1', [tenantId]);
    return rows[0]?.seq ?? '0';
  }

  /**
   * The file `npm run proof:verify` checks offline: the record, the chain from it towards the head
   * (at most {@link MAX_EXPORT_PATH} links), and the tenant's signature over the last link's hash.
   */
  async export(caller: Caller, id: string): Promise<ProofExport | null> {
    const record = await this.get(caller, id);
    if (!record) return null;
    const path = (await this.path(caller, record, MAX_EXPORT_PATH)).slice(0, MAX_EXPORT_PATH);
    const last = path.at(-1)!;
    const key = await this.signingKey(caller.tenantId);
    const exportedAt = new Date().toISOString();
    const headSeq = await this.headSeq(caller.tenantId);
    const payload: ProofAnchorPayload = {
      typ: 'passerelle-proof-anchor',
      tenantId: caller.tenantId,
      seq: last.seq,
      recordSha256: last.recordSha256,
      headSeq,
      exportedAt,
    };
    const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
      .setProtectedHeader({ alg: ANCHOR_ALG, kid: key.kid, typ: 'proof-anchor+jws' })
      .sign(key.privateKey);
    return {
      format: 'passerelle-proof-export/1',
      exportedAt,
      tenantId: caller.tenantId,
      recordId: record.id,
      path: path.map(({ id: linkId, seq, body, bodySha256, prevSha256, recordSha256 }) => ({ id: linkId, seq, body, bodySha256, prevSha256, recordSha256 })),
      headSeq,
      anchor: { jws, jwk: key.jwk as Record<string, unknown>, kid: key.kid, jwksUrl: this.jwksUrl(key.kid) },
    };
  }

  jwksUrl(kid: string): string {
    return `${this.deps.publicUrl}/proofs/keys/${encodeURIComponent(kid)}`;
  }

  /** A published proof-signing public key by its id (a JWK thumbprint), as a JWKS; null when unknown. */
  async publicKey(kid: string): Promise<{ keys: JWK[] } | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(kid)) return null;
    const { rows } = await this.deps.sql.query<{ jwk: JWK }>('select public_jwk as jwk from proof_signing_key where kid = $1', [kid]);
    return rows[0] ? { keys: [rows[0].jwk] } : null;
  }

  /**
   * The tenant's proof-signing key (ES256), made on first use: the private half only ever stored
   * sealed by the vault, the public half published. Two processes racing keep the first stored.
   */
  private signingKey(tenantId: string): Promise<SigningKey> {
    let key = this.#keys.get(tenantId);
    if (!key) {
      key = this.loadOrCreateKey(tenantId);
      key.catch(() => this.#keys.delete(tenantId));
      this.#keys.set(tenantId, key);
    }
    return key;
  }

  private async loadOrCreateKey(tenantId: string): Promise<SigningKey> {
    const context = { tenantId, ownerId: 'proof-signing-key', purpose: 'proof-signing-key' };
    const load = async () =>
      (
        await this.deps.sql.query<{ kid: string; jwk: JWK; sealed: string }>(
          'select kid, public_jwk as jwk, sealed_private as sealed from proof_signing_key where tenant_id = $1',
          [tenantId],
        )
      ).rows[0];
    let row = await load();
    if (!row) {
      const pair = await generateKeyPair(ANCHOR_ALG, { extractable: true });
      const { kty, crv, x, y } = await exportJWK(pair.publicKey);
      const jwk: JWK = { kty, crv, x, y };
      const kid = await calculateJwkThumbprint(jwk);
      const sealed = await this.deps.vault.seal(JSON.stringify(await exportJWK(pair.privateKey)), context);
      await this.deps.sql.query(
        `insert into proof_signing_key (kid, tenant_id, public_jwk, sealed_private) values ($1, $2, $3, $4) on conflict (tenant_id) do nothing`,
        [kid, tenantId, JSON.stringify({ ...jwk, kid, alg: ANCHOR_ALG, use: 'sig' }), sealed],
      );
      row = (await load())!;
    }
    const privateJwk = JSON.parse(await this.deps.vault.openText(row.sealed, context)) as JWK;
    return { kid: row.kid, jwk: row.jwk, privateKey: await importJWK(privateJwk, ANCHOR_ALG) };
  }

  /**
   * Appends within the unit of work of `em`: the record is inserted by the same flush (one
   * transaction) as the change it proves, like `addEvents`. Returns the record's id.
   */
  add(em: EntityManager, input: ProofInput): string {
    const row = this.row(input);
    em.create(ProofRecordEntity, row);
    return row.id;
  }

  /**
   * Appends now: with `tx` (a pg client in an open transaction, or a MikroORM EntityManager inside
   * `transactional`), the record commits or rolls back with the caller's transaction; without it,
   * on its own. Blocks while another open transaction holds the tenant's chain head.
   */
  async append(input: ProofInput, tx?: ProofSql | EntityManager): Promise<AppendedProof> {
    const row = this.row(input);
    const params = [row.id, row.tenantId, row.subjectKind, row.subjectId, row.event, row.body, row.createdAt, row.retainUntil];
    const insert = `insert into proof_record (id, tenant_id, subject_kind, subject_id, event, body, created_at, retain_until)
       values ($1, $2, $3, $4, $5, $6, $7, $8)
       returning id, seq::text as seq, prev_sha256 as "prevSha256", record_sha256 as "recordSha256"`;
    if (tx && 'getConnection' in tx) {
      const rows = await tx.execute<AppendedProof[]>(insert.replace(/\$\d/g, '?'), params);
      return rows[0]!;
    }
    const { rows } = await (tx ?? this.deps.sql).query<AppendedProof>(insert, params);
    return rows[0]!;
  }

  /**
   * Takes the tenant's chain-head lock now, inside the caller's transaction (held until it ends).
   * A flush that writes a proof takes it before its updates (MikroORM inserts before it updates),
   * so a raw transaction that will update a payment or consent and append its proof should call
   * this first: one lock order everywhere, no deadlock between the two.
   */
  async lockChain(tenantId: string, tx: ProofSql | EntityManager): Promise<void> {
    const sql = [
      `insert into proof_chain (tenant_id, head_seq, head_sha256) values ($1, 0, repeat('0', 64)) on conflict (tenant_id) do nothing`,
      'select 1 from proof_chain where tenant_id = $1 for update',
    ];
    for (const q of sql) {
      if ('getConnection' in tx) await tx.execute(q.replace('$1', '?'), [tenantId]);
      else await tx.query(q, [tenantId]);
    }
  }

  /** The record as stored: canonical body, and the indexed columns the trigger checks against it. */
  protected row(input: ProofInput) {
    const id = randomUUID();
    const createdAt = new Date();
    const retainUntil = new Date(createdAt);
    retainUntil.setUTCFullYear(retainUntil.getUTCFullYear() + this.deps.retentionYears);
    const body: ProofBody = {
      v: 1,
      id,
      tenantId: input.tenantId,
      applicationId: input.applicationId ?? null,
      endUserId: input.endUserId ?? null,
      subject: { kind: input.subject.kind, id: input.subject.id },
      event: input.event,
      actor: input.actor,
      authMethod: input.authMethod,
      document: input.document,
      documentSha256: sha256Hex(canonicalJson(input.document)),
      signature: input.signature ?? null,
      occurredAt: (input.occurredAt ?? createdAt).toISOString(),
      createdAt: createdAt.toISOString(),
      retainUntil: retainUntil.toISOString(),
    };
    return {
      id,
      tenantId: input.tenantId,
      subjectKind: input.subject.kind,
      subjectId: input.subject.id,
      event: input.event,
      body: canonicalJson(body),
      createdAt,
      retainUntil,
    };
  }
}
