import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { startTestGateway, type TestGateway } from '../../../test/helpers/gateway';
import type { BankCallRecord } from '../../banking/http';
import { createLogger } from '../../platform/logger';
import { withTenant } from '../../platform/tenant-scope';
import { AuditService } from './audit.service';

let t: TestGateway;
let tenants: string[];

beforeAll(async () => {
  t = await startTestGateway();
  tenants = [(await t.createTenant('Journal A')).tenantId, (await t.createTenant('Journal B')).tenantId];
});
afterAll(async () => t?.close());

/**
 * A journal whose inserts are counted, on the gateway's own pool under row-level security (the
 * test helper's `db.sql` inspects as the tables' owner, and its services run on the system path).
 */
function countedJournal(): { audit: AuditService; inserts: () => number } {
  let inserts = 0;
  const pool = (t.gateway.services.audit as unknown as { sql: pg.Pool }).sql;
  const sql = {
    query: (...args: Parameters<pg.Pool['query']>) => {
      inserts++;
      return (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
    },
  } as unknown as Pick<pg.Pool, 'query'>;
  return { audit: new AuditService(t.gateway.db.orm, createLogger('silent'), sql), inserts: () => inserts };
}

const call = (requestId: string): BankCallRecord => ({
  institutionId: 'nordlicht',
  operation: 'accounts.transactions',
  method: 'GET',
  path: '/v1/accounts/{id}/transactions?bookingStatus=both',
  status: 200,
  latencyMs: 3,
  requestId,
  attempt: 1,
  outcome: 'success',
});

async function journalled(requestIds: string[]): Promise<{ tenantId: string; requestId: string }[]> {
  const { rows } = await t.gateway.db.sql.query<{ tenantId: string; requestId: string }>(
    `select tenant_id as "tenantId", details->>'requestId' as "requestId" from audit_event where action = 'BANK_CALL' and details->>'requestId' = any($1) order by created_at`,
    [requestIds],
  );
  return rows;
}

describe('the bank-call journal', () => {
  it('writes a call after a quiet spell at once, without waiting for others to share its insert', async () => {
    const { audit, inserts } = countedJournal();
    const id = randomUUID();
    await audit.withBankCallScope({ tenantId: tenants[0]!, actor: 'test' }, async () => audit.recordBankCall(call(id)));
    expect(inserts()).toBe(1); // started within the call itself
    await audit.flush();
    expect(await journalled([id])).toEqual([{ tenantId: tenants[0], requestId: id }]);
  });

  it('writes the lines of calls that keep coming (a sync reading page after page) in a few inserts, every line kept in order', async () => {
    const { audit, inserts } = countedJournal();
    const ids: string[] = Array.from({ length: 120 }, () => randomUUID());
    // Two tenants' syncs side by side, one call every 2 ms each, for about a quarter of a second.
    await Promise.all(
      tenants.map((tenantId, k) =>
        audit.withBankCallScope({ tenantId, actor: 'sync:BACKGROUND' }, async () => {
          for (let i = k; i < ids.length; i += 2) {
            audit.recordBankCall(call(ids[i]!));
            await new Promise((r) => setTimeout(r, 2));
          }
        }),
      ),
    );
    await audit.flush();
    const rows = await journalled(ids);
    expect(rows.map((r) => r.requestId).sort()).toEqual([...ids].sort());
    for (const r of rows) expect(r.tenantId).toBe(tenants[ids.indexOf(r.requestId) % 2]);
    // 120 lines, at most one insert per 50 ms (plus the first at once): far fewer than one per line.
    expect(inserts()).toBeLessThan(20);
  });

  it('is written whole whichever tenant’s request started the insert (the writer runs on the system path)', async () => {
    if (t.gateway.db.embedded) return; // PGlite has no row-level security to refuse a line
    const { audit } = countedJournal();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    // A call made inside tenant A's request scope starts the insert; B's lines join the next ones.
    await withTenant(tenants[0]!, () => audit.withBankCallScope({ tenantId: tenants[0]!, actor: 'api' }, async () => audit.recordBankCall(call(ids[0]!))));
    await withTenant(tenants[0]!, () =>
      audit.withBankCallScope({ tenantId: tenants[1]!, actor: 'sync:USER_PRESENT' }, async () => audit.recordBankCall(call(ids[1]!))),
    );
    await audit.withBankCallScope({ tenantId: tenants[1]!, actor: 'sync:USER_PRESENT' }, async () => audit.recordBankCall(call(ids[2]!)));
    await audit.flush();
    expect((await journalled(ids)).map((r) => r.tenantId)).toEqual([tenants[0], tenants[1], tenants[1]]);
  });

  it('lists every line of calls that returned, however recent (a read of the journal flushes first)', async () => {
    const { audit } = countedJournal();
    const ids = Array.from({ length: 5 }, () => randomUUID());
    await audit.withBankCallScope({ tenantId: tenants[1]!, actor: 'test' }, async () => {
      for (const id of ids) audit.recordBankCall(call(id));
    });
    // No wait: list() must not miss the lines still waiting for their insert.
    const em = t.gateway.db.orm.em.fork();
    const listed = await withTenant(tenants[1]!, () => audit.list(em, { tenantId: tenants[1]! } as never, null, 1_000));
    const seen = new Set(listed.map((e) => String((e.details as { requestId?: string }).requestId)));
    for (const id of ids) expect(seen.has(id)).toBe(true);
  });
});
