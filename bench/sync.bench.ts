/**
 * Initial sync of the 100,000-transaction sandbox account (`heavy` at nordlicht, historyDays 730),
 * against a plain `COPY … FROM STDIN` of the same rows into the same table in the same run.
 *
 *   DATABASE_URL=postgres://… npx tsx bench/sync.bench.ts     (alone)
 *   DATABASE_URL=postgres://… npm run bench -- sync
 *
 * 1. The real thing: consent + authorisation through the gateway; the pg-boss job syncs the account
 *    (wall time from the job's start to its completion, and as seen by a client polling the API).
 *    First once unmeasured (a fresh process: code not yet optimised, the young generation still
 *    small; its time is printed), then ROUNDS times (a new end user and account each), each round
 *    followed by its own COPY of step 3: the ratio is the median of the rounds' ratios, so a
 *    machine that slows down for a while (on this kind of machine successive runs of the same code
 *    differ by ±10–20 %) weighs on both sides of a round alike.
 * 2. The phases, timed here because SyncService does not report them: the adapter's pages read
 *    again from the sandbox (bank fetch), then `loadWindow` + `reconcile` + `applyChanges` of those
 *    pages into a second, fresh account row in one transaction (store).
 * 3. `COPY` of the very rows `reconcile` produced (same columns, same table) into a third account.
 * 4. An incremental BACKGROUND sync right after (SyncService.run): rows, time, bank calls.
 * 5. The whole initial sync again, on a fresh database, with the sandbox banks in their own process
 *    (`sandbox/main.ts` on BENCH_NODE, the gateway pointed at it with SANDBOX_URL): a real bank is
 *    across the network and does not run on the gateway's thread. Once unmeasured, then ROUNDS
 *    times; the median against the median COPY of step 3.
 * 6. The same bank answering each transaction request 20 ms late (a bank across a network): a first
 *    sync with the end user present (date ranges read side by side, quirk transactionReadLanes), then
 *    the same account emptied and synced as a counted first sync (one listing, page after page).
 *
 * With BENCH_NODE (e.g. Node 24, the image's runtime) the whole benchmark runs on that Node.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { from as copyFrom } from 'pg-copy-streams';
import { atCurrencyScale } from '../src/api/money';
import { parseGlobalId } from '../src/api/relay/global-id';
import { createAdapterRegistry } from '../src/banking/adapters/registry';
import type { CanonicalTransaction } from '../src/banking/model';
import { createLogger } from '../src/platform/logger';
import { addDays, utcDay } from '../src/modules/sync/budget';
import { reconcile, type TransactionRow } from '../src/modules/transactions/reconcile';
import { applyChanges, loadWindow } from '../src/modules/transactions/transactions.store';
import { connect, settled } from '../test/helpers/banking';
import { freePort } from '../src/platform/db';
import { asSystem } from '../src/platform/tenant-scope';
import { sandboxPartition } from '../src/gateway';
import type { TestGateway } from '../test/helpers/gateway';
import { benchDatabase, benchNode, cloneAccount, createEndUser, gatewayOn, machineLoad, median, ms, num, ratio, root, spawnOnBenchNode, stop } from './common';

const BANK = 'nordlicht';
const USER = 'heavy';
const HISTORY_DAYS = 730;
const PSU_IP = '198.51.100.7';
/**
 * Whole initial syncs per mode, and COPYs of the limit: medians of five. On this kind of machine
 * one run's COPYs of the same rows differ by up to 50 % (2.4–3.6 s), so a round's ratio swings
 * with its COPY; three rounds left the median at the mercy of one slow one.
 */
const ROUNDS = 5;

const COPY_COLUMNS = `id, tenant_id, account_id, status, amount, currency, booking_date, value_date, transaction_date, sort_date,
  counterparty_name, counterparty_iban, remittance, description, end_to_end_id, bank_transaction_code, bank_transaction_id,
  fingerprint, occurrence, content_hash, raw, created_version, version`;

/** One value in COPY text format. */
function copyText(v: string | number | null): string {
  if (v === null) return '\\N';
  const s = String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

const clip = (v: string | null, max: number) => (v !== null && v.length > max ? v.slice(0, max) : v);

/** The rows as COPY text lines, the same values `applyChanges` binds (clipped, amounts at currency scale). */
function* copyLines(tenantId: string, accountId: string, rows: TransactionRow[]): Generator<string> {
  const BATCH = 1_000;
  for (let i = 0; i < rows.length; i += BATCH) {
    let out = '';
    for (let j = i; j < Math.min(rows.length, i + BATCH); j++) {
      const r = rows[j]!;
      const version = j + 1;
      out +=
        [
          randomUUID(),
          tenantId,
          accountId,
          r.status,
          atCurrencyScale(r.amount, r.currency),
          r.currency,
          r.bookingDate,
          r.valueDate,
          r.transactionDate,
          r.sortDate,
          clip(r.counterpartyName, 300),
          clip(r.counterpartyIban, 34),
          r.remittanceInformation,
          clip(r.description, 300),
          clip(r.endToEndId, 100),
          clip(r.bankTransactionCode, 100),
          clip(r.bankTransactionId, 200),
          r.fingerprint,
          r.occurrence,
          r.contentHash,
          r.raw === undefined ? null : JSON.stringify(r.raw),
          version,
          version,
        ]
          .map(copyText)
          .join('\t') + '\n';
    }
    yield out;
  }
}

/** The whole initial sync as production runs it: queued on authorisation, run by a pg-boss worker. */
async function initialSync(t: TestGateway, key: string, endUserId: string) {
  const sql = t.gateway.db.sql;
  const c = await connect(t, key, endUserId, BANK, USER, { historyDays: HISTORY_DAYS });
  const authorised = performance.now();
  // CPU time of this process while the sync runs (gateway, and the bank when it is in-process; the
  // client's polling is a small part): what a busy machine's wall clock hides.
  const cpu0 = process.cpuUsage();
  const account = c.accounts[0]!;
  const state = await settled(t, key, account.id, null, 30 * 60_000);
  const observedMs = performance.now() - authorised;
  const cpu = process.cpuUsage(cpu0);
  if (state.syncStatus !== 'SUCCEEDED') throw new Error(`initial sync: ${JSON.stringify(state)}`);
  const { rows: stored } = await sql.query<{ n: number }>('select count(*)::int as n from bank_transaction where account_id = $1', [account.internalId]);
  const n = stored[0]!.n;
  // pg-boss marks the job completed just after the account row says SUCCEEDED.
  let job: { queued_ms: number; run_ms: number } | undefined;
  for (const deadline = Date.now() + 10_000; !job && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const { rows: jobs } = await sql.query<{ queued_ms: number; run_ms: number }>(
      `select extract(epoch from (started_on - created_on)) * 1000 as queued_ms, extract(epoch from (completed_on - started_on)) * 1000 as run_ms
       from pgboss.job where name = 'account-sync' and data->>'accountId' = $1 and data->>'reason' = 'INITIAL' and state = 'completed'`,
      [account.internalId],
    );
    job = jobs[0];
  }
  const { rows: calls } = await sql.query<{ n: number }>(
    `select count(*)::int as n from audit_event where action = 'BANK_CALL' and actor like 'sync:%' and (details->>'path') like '%/transactions%' and resource_id = $1`,
    [parseGlobalId(c.consentId)!.id],
  );
  const syncMs = job ? Number(job.run_ms) : observedMs;
  const notes = `${num((n / syncMs) * 1000)} rows/s; ${n.toLocaleString('en-US')} rows; ${calls[0]!.n} transaction page calls; queued ${job ? ms(Number(job.queued_ms)) : '?'} ms before it started; client saw it settled ${ms(observedMs)} ms after authorisation; this process's CPU meanwhile ${ms((cpu.user + cpu.system) / 1000)} ms`;
  return { c, account, n, syncMs, notes };
}

/** Latency of each transaction listing request in step 6: a bank across a network. */
const BANK_LATENCY_MS = 20;

/**
 * Step 6: the same bank answering every transaction request BANK_LATENCY_MS late. The first sync
 * (end user present: date ranges side by side, quirk transactionReadLanes), then the same account
 * emptied and synced again as a counted (BACKGROUND) first sync, which reads one listing page after page.
 */
async function initialSyncsWithLatency(t: TestGateway, key: string, controlUrl: string, adminToken: string): Promise<[string, string, string][]> {
  const sql = t.gateway.db.sql;
  const fault = await fetch(`${controlUrl}/banks/${BANK}/faults`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'latency', route: 'transactions', latencyMs: BANK_LATENCY_MS }),
  });
  if (!fault.ok) throw new Error(`latency fault: ${fault.status} ${await fault.text()}`);
  const endUserId = await createEndUser(t, key, 'sync-bench-latency');
  const side = await initialSync(t, key, endUserId);
  const accountId = side.account.internalId;
  await asSystem('bench: empty the account for a counted first sync', async () => {
    await sql.query('delete from bank_transaction where account_id = $1', [accountId]);
    await sql.query('update account set last_synced_at = null, last_booked_date = null where id = $1', [accountId]);
  });
  const o0 = performance.now();
  const one = await t.gateway.services.sync.run({ accountId, mode: 'BACKGROUND', reason: 'INITIAL' });
  const oneMs = performance.now() - o0;
  if (one.status !== 'SUCCEEDED') throw new Error(`counted first sync: ${JSON.stringify(one)}`);
  return [
    [
      `initial sync, whole, bank in a separate process answering each transaction request ${BANK_LATENCY_MS} ms late; end user present: date ranges side by side`,
      `${ms(side.syncMs)} ms`,
      side.notes,
    ],
    [
      `the same account again as a counted first sync (end user away): one listing, page after page`,
      `${ms(oneMs)} ms`,
      `${num((one.added / oneMs) * 1000)} rows/s; ${one.added.toLocaleString('en-US')} rows (SyncService.run)`,
    ],
  ];
}

/** Step 5: the whole initial sync with the sandbox banks in a process of their own, on a fresh database. */
async function initialSyncRemoteBank(): Promise<{ n: number; syncMs: number; notes: string; latency: [string, string, string][] }> {
  const port = await freePort();
  const token = randomBytes(24).toString('hex'); // never starting with '-', which the sandbox's argument parser would take for an option
  const bank = spawnOnBenchNode('sandbox/main.ts', ['--port', String(port), `--admin-token=${token}`, '--log-level', 'warn']);
  const db = await benchDatabase('syncbenchremote');
  let t: TestGateway | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      bank.stdout!.on('data', (d: Buffer) => {
        out += String(d);
        if (out.includes('Passerelle sandbox banks on')) resolve();
      });
      bank.once('exit', (code) => reject(new Error(`the standalone sandbox exited (${code}) before it was ready`)));
    });
    bank.stdout!.resume();
    t = await gatewayOn(db, { SANDBOX_URL: `http://127.0.0.1:${port}/sandbox`, SANDBOX_ADMIN_TOKEN: token });
    const { key, tenantId } = await t.createTenant('Sync bench, remote bank');
    const warmUp = await initialSync(t, key, await createEndUser(t, key, 'sync-bench-remote-warm-up'));
    const rounds: Awaited<ReturnType<typeof initialSync>>[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await initialSync(t, key, await createEndUser(t, key, `sync-bench-remote-${i}`)));
    const syncMs = median(rounds.map((r) => r.syncMs));
    const n = rounds[0]!.n;
    const notes = `median of ${ROUNDS} (${rounds.map((r) => ms(r.syncMs)).join(' / ')} ms) after one unmeasured (${ms(warmUp.syncMs)} ms); each: ${rounds.map((r) => r.notes).join(' | ')}`;
    const controlUrl = `http://127.0.0.1:${port}/sandbox/t/${sandboxPartition(token, tenantId)}/control`;
    const latency = await initialSyncsWithLatency(t, key, controlUrl, token);
    return { n, syncMs, notes, latency };
  } finally {
    await t?.close();
    await db.drop();
    await stop(bank, 'SIGTERM');
  }
}

export default async function syncBench(): Promise<string> {
  // The benchmark runs in this process: on another Node (BENCH_NODE) it runs again there, whole.
  if (fs.realpathSync(benchNode) !== fs.realpathSync(process.execPath)) {
    return execFileSync(benchNode, ['--import', 'tsx', 'bench/sync.bench.ts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trimEnd();
  }
  const loadBefore = machineLoad();
  const db = await benchDatabase('syncbench');
  const t = await gatewayOn(db);
  const sql = t.gateway.db.sql;
  const rows: [string, string, string][] = [];
  let summary = '';
  let copyRowsPerMs = Number.NaN;
  try {
    const { key, tenantId } = await t.createTenant('Sync bench');

    // 1. The initial sync as production runs it, the sandbox banks in this process (sharing its thread).
    const warmUp = await initialSync(t, key, await createEndUser(t, key, 'sync-bench-warm-up'));
    const { c, account } = warmUp;
    rows.push([
      'initial sync, whole, the first in a fresh process (unmeasured warm-up: code not yet optimised, young generation still small)',
      `${ms(warmUp.syncMs)} ms`,
      warmUp.notes,
    ]);

    // 2. The same work in phases, on the same data: bank fetch, then store into a fresh account row.
    const em = t.gateway.db.orm.em.fork();
    const data = await t.gateway.services.consents.dataAccess(em, parseGlobalId(c.consentId)!.id);
    if (!data) throw new Error('consent gives no data access');
    const adapters = createAdapterRegistry({
      credentials: (id) => t.gateway.sandbox?.clients[id],
      logger: createLogger('warn'),
      callbackUrl: `${t.gateway.publicUrl}/callback`,
    });
    const adapter = adapters.for(data.institution);
    const today = utcDay(new Date());
    const dateFrom = addDays(today, -Math.min(HISTORY_DAYS, data.institution.maxHistoryDays));
    const ctx = { institution: data.institution, psuIpAddress: PSU_IP };
    const f0 = performance.now();
    const pages: CanonicalTransaction[][] = [];
    for await (const page of adapter.accounts.listTransactions(ctx, data.access, account.bankAccountId, { dateFrom, dateTo: null, status: 'BOTH' }))
      pages.push(page);
    const fetchMs = performance.now() - f0;
    const fetched = pages.reduce((s, p) => s + p.length, 0);
    rows.push([
      'bank fetch (adapter → in-process sandbox, all pages), no journal',
      `${ms(fetchMs)} ms`,
      `${num((fetched / fetchMs) * 1000)} rows/s; ${fetched.toLocaleString('en-US')} rows in ${pages.length} pages`,
    ]);
    // The same read with the audit journal hooked in as the gateway's adapters have it (one BANK_CALL row per HTTP request).
    const journaled = createAdapterRegistry({
      credentials: (id) => t.gateway.sandbox?.clients[id],
      logger: createLogger('warn'),
      callbackUrl: `${t.gateway.publicUrl}/callback`,
      onCall: t.gateway.services.audit.recordBankCall,
    }).for(data.institution);
    const j0 = performance.now();
    let again = 0;
    await t.gateway.services.audit.withBankCallScope({ tenantId, consentId: data.consent.id, actor: 'bench:fetch' }, async () => {
      for await (const page of journaled.accounts.listTransactions(ctx, data.access, account.bankAccountId, { dateFrom, dateTo: null, status: 'BOTH' }))
        again += page.length;
    });
    const journalMs = performance.now() - j0;
    rows.push([
      'bank fetch again, with the BANK_CALL audit journal (as the sync job reads)',
      `${ms(journalMs)} ms`,
      `${num((again / journalMs) * 1000)} rows/s`,
    ]);

    const [target, copyTarget] = await cloneAccount(sql, account.internalId, 2, 'syncbench');
    const client = await sql.connect();
    let inserts: TransactionRow[] = [];
    try {
      await client.query('begin');
      const s0 = performance.now();
      const window = await loadWindow(client, target!, dateFrom);
      const s1 = performance.now();
      const result = reconcile({ stored: window, pages, trustBankIds: data.institution.quirks.transactionIdsUnstable !== true, today });
      const s2 = performance.now();
      const applied = await applyChanges(client, { tenantId, accountId: target!, version: '0' }, result, { copy: true });
      await client.query('commit');
      const s4 = performance.now();
      inserts = result.inserts;
      const storeMs = s4 - s0;
      const m = applied.added.length;
      rows.push(['store: loadWindow (empty account)', `${ms(s1 - s0)} ms`, '']);
      rows.push(['store: reconcile (CPU, pairing and hashing)', `${ms(s2 - s1)} ms`, `${num((m / (s2 - s1)) * 1000)} rows/s`]);
      rows.push(['store: applyChanges (COPY for a first sync this large) + commit', `${ms(s4 - s2)} ms`, `${num((m / (s4 - s2)) * 1000)} rows/s`]);
      rows.push([
        'store, whole (loadWindow + reconcile + applyChanges + commit)',
        `${ms(storeMs)} ms`,
        `${num((m / storeMs) * 1000)} rows/s; ${m.toLocaleString('en-US')} rows`,
      ]);

      // 3. COPY of the same rows, same columns, same table, another fresh account; after each
      // further round's whole sync, again into a fresh account.
      const copyInto = async (target: string): Promise<number> => {
        await client.query('begin');
        const k0 = performance.now();
        await pipeline(Readable.from(copyLines(tenantId, target, inserts)), client.query(copyFrom(`copy bank_transaction (${COPY_COLUMNS}) from stdin`)));
        await client.query('commit');
        return performance.now() - k0;
      };
      const syncs: Awaited<ReturnType<typeof initialSync>>[] = [];
      const copies: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        syncs.push(await initialSync(t, key, await createEndUser(t, key, `sync-bench-${i}`)));
        copies.push(await copyInto(i === 0 ? copyTarget! : (await cloneAccount(sql, account.internalId, 1, `syncbench${i}`))[0]!));
      }
      const copyMs = median(copies);
      const syncMs = median(syncs.map((r) => r.syncMs));
      // Each round's sync against the COPY that followed it; the median of those.
      const roundRatios = syncs.map((r, i) => r.n / r.syncMs / (inserts.length / copies[i]!));
      rows.push([
        'COPY … FROM STDIN of the same rows (pg-copy-streams, text format, incl. serialising) + commit',
        `${ms(copyMs)} ms`,
        `${num((inserts.length / copyMs) * 1000)} rows/s; median of ${ROUNDS} (${copies.map(ms).join(' / ')} ms), one after each round's sync`,
      ]);
      rows.push([
        'initial sync, whole (pg-boss job start → completion), bank in-process (shares the gateway’s thread)',
        `${ms(syncMs)} ms`,
        `median of ${ROUNDS} (${syncs.map((r) => ms(r.syncMs)).join(' / ')} ms); round ratios to the COPY after each: ${roundRatios.map((x) => `${x.toFixed(2)}×`).join(' / ')}; each: ${syncs.map((r) => r.notes).join(' | ')}`,
      ]);
      const storeRate = m / storeMs;
      const copyRate = inserts.length / copyMs;
      const writeRate = m / (s4 - s2);
      copyRowsPerMs = copyRate;
      summary = [
        `| initial sync (whole), bank in-process / COPY (median of the ${ROUNDS} rounds) | ${median(roundRatios).toFixed(2)}× |`,
        `| store (reconcile + write) / COPY | ${ratio(storeRate, copyRate)} |`,
        `| write only (applyChanges) / COPY | ${ratio(writeRate, copyRate)} |`,
      ].join('\n');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }

    // 4. An incremental background sync right after, as the scheduler would run it.
    const i0 = performance.now();
    const outcome = await t.gateway.services.sync.run({ accountId: account.internalId, mode: 'BACKGROUND', reason: 'SCHEDULED' });
    const incMs = performance.now() - i0;
    await new Promise((r) => setTimeout(r, 500)); // bank-call journal lines are written after the call
    const { rows: bg } = await sql.query<{ n: number }>(`select count(*)::int as n from audit_event where action = 'BANK_CALL' and actor = 'sync:BACKGROUND'`);
    rows.push([
      'incremental BACKGROUND sync right after (SyncService.run)',
      `${ms(incMs)} ms`,
      `${outcome.status}; +${outcome.added} ~${outcome.modified} -${outcome.removed}; bankCalls ${outcome.bankCalls} (counted reads); ${bg[0]!.n} HTTP requests to the bank`,
    ]);
  } finally {
    await t.close();
    await db.drop();
  }

  // 5. The same whole sync, the bank in its own process (as across a network: not on the gateway's thread).
  const remote = await initialSyncRemoteBank();
  rows.push([
    'initial sync, whole (pg-boss job start → completion), bank in a separate process (standalone sandbox, SANDBOX_URL)',
    `${ms(remote.syncMs)} ms`,
    remote.notes,
  ]);
  rows.push(...remote.latency);
  summary += `\n| initial sync (whole), bank in a separate process / COPY (medians: of ${ROUNDS} syncs, of step 3's ${ROUNDS} COPYs) | ${ratio(remote.n / remote.syncMs, copyRowsPerMs)} |`;
  return [
    `Initial sync of \`${USER}\` at ${BANK} (historyDays ${HISTORY_DAYS}), PostgreSQL, Node ${process.versions.node}; ${loadBefore} before, ${machineLoad()} after`,
    '',
    '| step | time | throughput / notes |',
    '|---|---:|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    '| ratio (rows/s) | |',
    '|---|---:|',
    summary,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(await syncBench());
  process.exit(0);
}
