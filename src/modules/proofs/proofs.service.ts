import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { canonicalJson, sha256Hex, type ProofBody, type ProofInput } from './proof';
import { ProofRecordEntity } from './proof-record.entity';

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
}

/**
 * Proof records (docs/proofs.md): who authorised, approved, rejected or changed what, with the
 * SHA-256 of the canonical document and the actor's signature, appended to the tenant's hash
 * chain in the same transaction as the change they prove. The chain itself (sequence, previous
 * hash, record hash, lock) is kept by the database's insert trigger, so both ways of writing
 * below give the same chain.
 */
export class ProofsService {
  constructor(protected readonly deps: ProofsDeps) {}

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
