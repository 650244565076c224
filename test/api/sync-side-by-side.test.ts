import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { bankLedger, connect, control, gatewayLedger, settled, type Connected } from '../helpers/banking';
import { addDays, utcDay } from '../../src/modules/sync/budget';
import { parseGlobalId } from '../../src/api/relay/global-id';

// A first sync the bank does not count, at a bank that allows several listings at once (the
// sandbox's Berlin Group banks: quirk transactionReadLanes 4), reads its window as date ranges
// side by side. These tests read what went to the bank from the bank-call journal.
let t: TestGateway;
let key: string;
const BANK = 'nordlicht';
const LATENCY_MS = 300;

interface Call {
  path: string;
  latencyMs: number;
  at: number;
}

/** The transaction listings the journal recorded for a consent's first sync, oldest first. */
async function transactionCalls(consentGid: string): Promise<Call[]> {
  const { rows } = await t.gateway.db.sql.query<{ path: string; latency: number; at: Date }>(
    `select details->>'path' as path, (details->>'latencyMs')::int as latency, created_at as at from audit_event
     where action = 'BANK_CALL' and actor like 'sync:%' and details->>'path' like '%/transactions?%'
       and resource_id = $1
     order by created_at`,
    [parseGlobalId(consentGid)!.id],
  );
  return rows.map((r) => ({ path: r.path, latencyMs: r.latency, at: r.at.getTime() }));
}

const param = (path: string, name: string) => new URLSearchParams(path.split('?')[1]).get(name);

async function endUser(ref: string): Promise<string> {
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation($ref: String!) { endUserCreate(input: { externalRef: $ref }) { endUser { id } } }',
    { ref },
    key,
  );
  return u.body.data!.endUserCreate.endUser.id;
}

/** A new end user's consent for alice's two years at the bank, every account's first sync done while `faults` apply. */
async function firstSyncUnder(ref: string, faults: Record<string, unknown>[]): Promise<Connected> {
  for (const fault of faults) await control(t, 'POST', `/banks/${BANK}/faults`, fault);
  try {
    const c = await connect(t, key, await endUser(ref), BANK, 'alice', { historyDays: 730 });
    for (const a of c.accounts) await settled(t, key, a.id, null, 60_000);
    return c;
  } finally {
    await control(t, 'DELETE', `/banks/${BANK}/faults`);
  }
}

describe.skipIf(!process.env.DATABASE_URL)('a first sync read side by side', () => {
  beforeAll(async () => {
    t = await startTestGateway({ env: { SYNC_CONCURRENCY: '1' } });
    ({ key } = await t.createTenant('Side by side'));
  });
  afterAll(async () => t?.close());

  it('reads pending entries in one listing and booked ones in date ranges at once, and stores exactly the bank’s ledger', async () => {
    // Every listing answered late, so that listings read one after the other could not overlap in time.
    const c = await firstSyncUnder('side-by-side', [{ kind: 'latency', route: 'transactions', latencyMs: LATENCY_MS }]);
    // The journal names no account (paths are templates); with one sync at a time (SYNC_CONCURRENCY 1)
    // every overlap is within one account's sync.
    const calls = await transactionCalls(c.consentId);
    const accounts = c.accounts.length;
    const from = addDays(utcDay(new Date()), -730);
    const firstPages = calls.filter((x) => !param(x.path, 'page'));
    expect(calls.some((x) => param(x.path, 'bookingStatus') === 'both')).toBe(false);
    const pending = firstPages.filter((x) => param(x.path, 'bookingStatus') === 'pending');
    expect(pending).toHaveLength(accounts);
    for (const x of pending) expect([param(x.path, 'dateFrom'), param(x.path, 'dateTo')]).toEqual([from, null]);
    // Each account's booked entries in the same three ranges: the first from the window's start, each
    // next one from the day after the previous one ends, the last one open.
    const ranges = new Map<string, number>();
    for (const x of firstPages.filter((y) => param(y.path, 'bookingStatus') === 'booked')) {
      const range = `${param(x.path, 'dateFrom')}..${param(x.path, 'dateTo') ?? ''}`;
      ranges.set(range, (ranges.get(range) ?? 0) + 1);
    }
    expect([...ranges.values()]).toEqual([accounts, accounts, accounts]);
    const bounds = [...ranges.keys()].map((r) => r.split('..')).sort();
    expect(bounds[0]![0]).toBe(from);
    for (let i = 1; i < bounds.length; i++) expect(bounds[i]![0]).toBe(addDays(bounds[i - 1]![1]!, 1));
    expect(bounds.at(-1)![1]).toBe('');
    // Requests in flight at the same time: their [sent, answered] intervals overlap by more than a third of the latency.
    const spans = calls.map((x) => [x.at - x.latencyMs, x.at] as const).sort((a, b) => a[0] - b[0]);
    const overlapping = spans.filter((s, i) => i > 0 && s[0] < spans[i - 1]![1] - LATENCY_MS / 3).length;
    expect(overlapping).toBeGreaterThanOrEqual(accounts);
    for (const a of c.accounts.filter((x) => x.iban)) {
      expect(await gatewayLedger(t, a.internalId)).toEqual(await bankLedger(t, BANK, a.bankAccountId, from));
    }
  });

  it('drops a page’s repeated first entry by its own listing’s previous page, and stores no entry twice', async () => {
    // Every listing's later pages start with the previous page's last entry again (as some banks
    // page), and no entry has an id: only the page boundary of the same listing tells a repeat.
    const c = await firstSyncUnder('side-by-side-repeats', [
      { kind: 'duplicates', route: 'transactions' },
      { kind: 'missing-ids', route: 'transactions' },
    ]);
    const from = addDays(utcDay(new Date()), -730);
    const paged = (await transactionCalls(c.consentId)).filter((x) => param(x.path, 'page'));
    expect(paged.length).toBeGreaterThan(0);
    for (const a of c.accounts.filter((x) => x.iban)) {
      expect(await gatewayLedger(t, a.internalId)).toEqual(await bankLedger(t, BANK, a.bankAccountId, from));
    }
  });
});
