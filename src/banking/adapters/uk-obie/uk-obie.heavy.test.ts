import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_USERS } from '../../../../sandbox';
import { startSandbox, type Running } from '../../../../sandbox/testing/harness';
import { sandboxInstitutions } from '../../sandbox-institutions';
import { authoriseAtBank } from '../../../../test/contract/adapter-contract';
import { createUkObieAdapter } from './uk-obie.adapter';

// About 9 s: the sandbox generates the heavy account's pages lazily.
describe('UK adapter on a large account', () => {
  let run: Running;
  beforeAll(async () => {
    run = await startSandbox();
  });
  afterAll(async () => run?.close());

  it('follows Links.Next through two years of a 100 000-entry account, every entry once', async () => {
    const institution = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
    const adapter = createUkObieAdapter({ institution, credentials: run.sandbox.clients.thames, logger: pino({ level: 'silent' }) });
    const ctx = { institution, psuIpAddress: '198.51.100.7' };
    const started = await adapter.consents.start(ctx, {
      scopes: ['ACCOUNTS', 'TRANSACTIONS'],
      validUntil: new Date(Date.now() + 30 * 86_400_000),
      frequencyPerDay: 4,
      redirectUri: run.callback,
      state: randomBytes(16).toString('base64url'),
    });
    const heavy = TEST_USERS.find((u) => u.username === 'heavy')!;
    const done = await adapter.consents.complete(ctx, {
      callbackUrl: await authoriseAtBank(run, started.authorizationUrl!, heavy),
      bankConsentId: started.bankConsentId,
      secrets: started.secrets,
    });
    if (done.outcome !== 'AUTHORISED') throw new Error(done.reason);
    const [account] = await adapter.accounts.listAccounts(ctx, done);
    let count = 0;
    let pages = 0;
    const ids = new Set<string>();
    for await (const page of adapter.accounts.listTransactions(ctx, done, account.bankAccountId, { dateFrom: '2024-01-01', dateTo: null, status: 'BOTH' })) {
      pages++;
      for (const t of page) {
        count++;
        if (t.bankTransactionId) ids.add(t.bankTransactionId);
      }
    }
    // About 100 000 entries since 2024 at 100 a page: every page followed, no entry twice.
    expect(count).toBeGreaterThan(90_000);
    expect(pages).toBeGreaterThan(900);
    expect(ids.size).toBe(count);
  }, 120_000);
});
