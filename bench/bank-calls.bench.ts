/**
 * Bank calls per scheduled sync cycle, per sandbox bank: alice connects, the initial sync runs
 * (end user present: the bank counts nothing), then ONE background sync of her first account with
 * an IBAN, as the scheduler runs it (SyncService.run, mode BACKGROUND). Counted three ways:
 * SyncService's `bankCalls` (reads charged to our budget), the reads the sandbox bank charged to
 * the consent's daily access counter, and HTTP requests to the bank (audit BANK_CALL lines).
 *
 *   DATABASE_URL=postgres://… npx tsx bench/bank-calls.bench.ts
 *   DATABASE_URL=postgres://… npm run bench -- bank-calls
 */
import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { connect, control, settled } from '../test/helpers/banking';
import { benchDatabase, createEndUser, gatewayOn } from './common';

/** The fewest reads a background cycle (balances + transactions of one account) needs per standard. */
const MINIMUM: Record<string, { calls: number; how: string }> = {
  BERLIN_GROUP: { calls: 1, how: 'GET …/transactions?withBalance=true returns the balances with the list' },
  STET: { calls: 2, how: 'GET …/balances and GET …/transactions are separate resources' },
  UK_OPEN_BANKING: { calls: 2, how: 'GET …/balances and GET …/transactions are separate resources' },
};

interface BankConsent {
  id: string;
  usage?: { day: string; floor: number; counts: Record<string, number> };
}

export default async function bankCallsBench(): Promise<string> {
  const db = await benchDatabase('bankcallsbench');
  const t = await gatewayOn(db);
  const lines: string[] = [];
  try {
    const { key } = await t.createTenant('Bank calls bench');
    const endUserId = await createEndUser(t, key, 'bank-calls-bench');
    const banks = t.gateway.sandbox!.banks.map((b) => ({ id: b.id, standard: b.standard }));
    for (const bank of banks) {
      const c = await connect(t, key, endUserId, bank.id, 'alice');
      for (const a of c.accounts) await settled(t, key, a.id, null, 120_000);
      const account = c.accounts.find((a) => a.iban) ?? c.accounts[0]!;
      const usage = async () => {
        const r = await control<{ consents: BankConsent[] }>(t, 'GET', `/banks/${bank.id}/consents`);
        let n = 0;
        for (const bc of r.consents) for (const [k, v] of Object.entries(bc.usage?.counts ?? {})) if (k.endsWith(account.bankAccountId)) n += v;
        return n;
      };
      const countedBefore = await usage();
      const before = new Date(Date.now() - 1);
      const outcome = await t.gateway.services.sync.run({ accountId: account.internalId, mode: 'BACKGROUND', reason: 'SCHEDULED' });
      await new Promise((r) => setTimeout(r, 500)); // journal lines are written after each call
      const counted = (await usage()) - countedBefore;
      const { rows: http } = await t.gateway.db.sql.query<{ op: string; n: number }>(
        `select details->>'operation' as op, count(*)::int as n from audit_event
         where action = 'BANK_CALL' and actor = 'sync:BACKGROUND' and created_at >= $1 group by 1 order by 1`,
        [before],
      );
      const requests = http.reduce((s, r) => s + r.n, 0);
      const min = MINIMUM[bank.standard] ?? { calls: NaN, how: '?' };
      lines.push(
        `| ${bank.id} | ${bank.standard} | ${outcome.status} | ${outcome.bankCalls} | ${counted} | ${requests} (${http.map((r) => `${r.op} ${r.n}`).join(', ')}) | ${min.calls} | ${outcome.bankCalls <= min.calls ? 'at the minimum' : `${outcome.bankCalls - min.calls} above`} — ${min.how} |`,
      );
    }
  } finally {
    await t.close();
    await db.drop();
  }
  return [
    'Bank calls of one scheduled (BACKGROUND) sync of one account, after the initial sync (sandbox user alice)',
    '',
    '| bank | standard | outcome | reads we count (SyncService bankCalls) | reads the bank charged to the consent | HTTP requests (audit BANK_CALL) | minimum the standard allows | verdict |',
    '|---|---|---|---:|---:|---|---:|---|',
    ...lines,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await bankCallsBench());
  process.exit(0);
}
