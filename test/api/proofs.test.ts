import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseGlobalId } from '../../src/api/relay/global-id';
import type { ProofInput } from '../../src/modules/proofs/proof';
import { linkText, sha256Hex, GENESIS_SHA256 } from '../../src/modules/proofs/proof';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let t: TestGateway;
let key: string;
let tenantId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key, tenantId } = await t.createTenant('Proving'));
});
afterAll(async () => {
  await t?.close();
});

const approval = (n: number, tenant = tenantId): ProofInput => ({
  tenantId: tenant,
  subject: { kind: 'PAYMENT', id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` },
  event: 'PAYMENT_APPROVED',
  actor: { kind: 'MEMBER', id: `member-${n}`, name: 'Ada Approver' },
  authMethod: { kind: 'PASSKEY', credentialId: `cred-${n}` },
  document: { type: 'PaymentApproval', n, amount: '10.00', currency: 'EUR' },
});

type Row = { id: string; seq: string; body: string; body_sha256: string; prev_sha256: string; record_sha256: string };
const chainOf = async (tenant: string) =>
  (await t.gateway.db.sql.query<Row>('select id, seq::text as seq, body, body_sha256, prev_sha256, record_sha256 from proof_record where tenant_id = $1 order by proof_record.seq', [tenant])).rows;

describe('the proof chain', () => {
  it('gives 20 concurrent appends of one tenant one unbroken chain, each record hashing its canonical body and the previous record', async () => {
    const other = await t.createTenant('Other');
    const appended = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => t.gateway.services.proofs.append(approval(i))),
      ...Array.from({ length: 5 }, (_, i) => t.gateway.services.proofs.append(approval(i, other.tenantId))),
    ]);
    expect(new Set(appended.map((a) => a.id)).size).toBe(25);
    for (const [tenant, length] of [[tenantId, 20], [other.tenantId, 5]] as const) {
      const rows = await chainOf(tenant);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length }, (_, i) => String(i + 1)));
      let prev = GENESIS_SHA256;
      for (const r of rows) {
        expect(r.prev_sha256).toBe(prev);
        expect(r.body_sha256).toBe(sha256Hex(r.body));
        expect(r.record_sha256).toBe(sha256Hex(linkText(r.body_sha256, r.prev_sha256, r.seq)));
        prev = r.record_sha256;
      }
    }
  });

  it('refuses to update a record, to delete one still within its retention, and to truncate the table', async () => {
    const [first] = await chainOf(tenantId);
    await expect(t.gateway.db.sql.query(`update proof_record set body = body || ' ' where id = $1`, [first!.id])).rejects.toThrow(/never changed \(UPDATE refused\)/);
    await expect(t.gateway.db.sql.query('delete from proof_record where id = $1', [first!.id])).rejects.toThrow(/never changed \(DELETE refused\)/);
    await expect(t.gateway.db.sql.query('truncate proof_record')).rejects.toThrow(/never changed \(TRUNCATE refused\)/);
    expect((await chainOf(tenantId))[0]).toEqual(first);
  });

  it('commits a record with the transaction it is appended in, and leaves no gap in the chain when that transaction rolls back', async () => {
    const before = (await chainOf(tenantId)).length;
    const client = await t.gateway.db.sql.connect();
    try {
      await client.query('begin');
      await t.gateway.services.proofs.append(approval(99), client);
      await client.query('rollback');
    } finally {
      client.release();
    }
    const em = t.gateway.db.orm.em.fork();
    await em.transactional(async (tx) => {
      await t.gateway.services.proofs.append(approval(100), tx);
    });
    const rows = await chainOf(tenantId);
    expect(rows.length).toBe(before + 1);
    expect(rows.at(-1)!.seq).toBe(String(before + 1));
    expect(JSON.parse(rows.at(-1)!.body).document.n).toBe(100);
  });
});
