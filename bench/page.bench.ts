/**
 * `account.transactions(first: 100)` through HTTP at concurrency 32, against a bare node:http + pg
 * server running the same SQL page, in the same run, over a 1,000,000-row `bank_transaction`
 * (100,000 rows in the bench account, the rest spread over other accounts).
 *
 *   DATABASE_URL=postgres://… npx tsx bench/page.bench.ts [--rows 1000000] [--bench-rows 100000]
 *     [--accounts 900] [--concurrency 32] [--warmup 3] [--duration 10] [--no-deep]
 *   DATABASE_URL=postgres://… npm run bench -- page       (the defaults above)
 *   BENCH_NODE=/path/to/node24 …                          (both servers on that Node: the Docker image's runtime)
 *   POSTGRAPHILE_DIR=/tmp/pg5 …                          (also the peer, PostGraphile 5, first page: `npm install --prefix /tmp/pg5 postgraphile@5`)
 *
 * Three processes besides PostgreSQL: the gateway (`node dist/main.js`, the production build, one
 * Node process as in production, default pool of 10), then the bare server (bench/bare-server.ts,
 * pool of 10, same Node), and
 * the load generator (bench/load.ts) — one server at a time, the load generator never in a
 * server's process. Rows are generated with `generate_series`, then VACUUM ANALYZE.
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { freePort } from '../src/platform/db';
import { connect, settled } from '../test/helpers/banking';
import {
  BENCH_ENV,
  benchDatabase,
  benchNode,
  benchNodeVersion,
  cloneAccount,
  createEndUser,
  ensureBuilt,
  gatewayOn,
  machineLoad,
  ms,
  num,
  output,
  ratio,
  root,
  spawnGateway,
  spawnOnBenchNode,
  spawnTsx,
  stop,
  waitReady,
  type BenchDatabase,
} from './common';

export interface PageBenchOptions {
  rows?: number;
  benchRows?: number;
  accounts?: number;
  concurrency?: number;
  warmup?: number;
  duration?: number;
  deep?: boolean;
}

interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  firstError?: string;
  bytes: number;
  /** CPU time the server used in the measured window (ms). */
  serverCpuMs: number;
}

const NODE = 'node { id status amount { amount currency } bookingDate valueDate counterparty { name iban } remittanceInformation description }';
export const FIRST_PAGE = `query($id: ID!) { account(id: $id) { transactions(first: 100) { edges { cursor ${NODE} } pageInfo { hasNextPage endCursor } } } }`;
const AFTER_PAGE = `query($id: ID!, $after: String) { account(id: $id) { transactions(first: 100, after: $after) { edges { cursor ${NODE} } pageInfo { hasNextPage endCursor } } } }`;

const NAMES = [
  'REWE Markt GmbH',
  'Deutsche Telekom AG',
  'Stadtwerke München GmbH',
  'Amazon EU S.a.r.l.',
  'Lieferando.de',
  'Hausverwaltung Schmidt & Partner',
  'Muster Maschinenbau GmbH',
  'Shell Deutschland Oil GmbH',
  'DB Fernverkehr AG',
  'Apotheke am Marktplatz',
  'Finanzamt Berlin-Mitte',
  'Allianz Versicherungs-AG',
];

/** Generates the rows: `counts[i]` booked entries in account `ids[i]` over two years, realistic text lengths and bank payloads. */
async function generate(db: pg.Pool, tenantId: string, ids: string[], counts: number[]): Promise<void> {
  await db.query(
    `insert into bank_transaction (id, tenant_id, account_id, status, amount, currency, booking_date, value_date, transaction_date, sort_date,
       counterparty_name, counterparty_iban, remittance, description, end_to_end_id, bank_transaction_code, bank_transaction_id,
       fingerprint, occurrence, content_hash, pending_origin, raw, created_version, version)
     select gen_random_uuid(), $1::uuid, a.id, 'BOOKED', b.amount, 'EUR', b.d, b.d, null, b.d,
       c.name, c.iban, c.rem, c.name, 'E2E-' || substr(b.h, 1, 20), 'PMNT-RCDT-ESCT', c.bank_id,
       encode(sha256(convert_to(b.h || 'f', 'UTF8')), 'hex'), 1, encode(sha256(convert_to(b.h || 'c', 'UTF8')), 'hex'), null,
       jsonb_build_object('transactionId', c.bank_id, 'entryReference', substr(c.bank_id, 1, 35), 'bookingDate', b.d, 'valueDate', b.d,
         'transactionAmount', jsonb_build_object('amount', b.amount::text, 'currency', 'EUR'),
         case when b.amount < 0 then 'creditorName' else 'debtorName' end, c.name,
         case when b.amount < 0 then 'creditorAccount' else 'debtorAccount' end, jsonb_build_object('iban', c.iban),
         'remittanceInformationUnstructured', c.rem, 'bankTransactionCode', 'PMNT-RCDT-ESCT'),
       g, g
     from unnest($2::uuid[], $3::int[]) as a(id, n)
     cross join lateral generate_series(1, a.n) as g
     cross join lateral (select md5(a.id::text || ':' || g) as h, (current_date - (((a.n - g)::bigint * 730) / a.n)::int) as d,
                                round((random() * 3000 - 2200)::numeric, 2) as amount) as b
     cross join lateral (select ($4::text[])[1 + g % ${NAMES.length}] || ' ' || upper(substr(b.h, 1, 4)) as name,
                                'DE' || lpad((('x' || substr(b.h, 5, 8))::bit(32)::bigint)::text, 20, '0') as iban,
                                'SEPA ' || (case when b.amount < 0 then 'Lastschrift' else 'Gutschrift' end) || ' Rechnung ' || upper(substr(b.h, 9, 10))
                                  || ' Kd-Nr ' || substr(b.h, 19, 8) || repeat(' Ref ' || substr(b.h, 27, 6), (g % 9)::int) as rem,
                                'bank-' || b.h as bank_id) as c`,
    [tenantId, ids, counts, NAMES],
  );
}

/** Tenant, end user, consent and one real account (alice at nordlicht) through the gateway; then the rows by SQL. */
export async function prepare(db: BenchDatabase, o: Required<PageBenchOptions>, log: (s: string) => void) {
  const t = await gatewayOn(db);
  let key: string, tenantId: string, template: string;
  try {
    ({ key, tenantId } = await t.createTenant('Page bench'));
    const endUserId = await createEndUser(t, key, 'page-bench');
    const c = await connect(t, key, endUserId, 'nordlicht', 'alice');
    for (const a of c.accounts) await settled(t, key, a.id, null, 120_000);
    template = c.accounts.find((a) => a.iban)!.internalId;
  } finally {
    await t.close();
  }
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  try {
    const [bench] = await cloneAccount(pool, template, 1, 'page');
    const others = await cloneAccount(pool, template, o.accounts, 'other');
    // No background sync may start while we measure.
    await pool.query('update account set next_sync_at = null');
    await pool.query('delete from bank_transaction');
    const rest = o.rows - o.benchRows;
    const per = others.map((_, i) => Math.floor(rest / others.length) + (i < rest % others.length ? 1 : 0));
    const g0 = performance.now();
    await generate(pool, tenantId, [bench!], [o.benchRows]);
    for (let i = 0; i < others.length; i += 100) await generate(pool, tenantId, others.slice(i, i + 100), per.slice(i, i + 100));
    log(`generated ${o.rows.toLocaleString('en-US')} rows in ${ms(performance.now() - g0)} ms`);
    await pool.query('vacuum analyze bank_transaction');
    await pool.query('analyze account');
    const { rows: deep } = await pool.query<{ sortDate: string; id: string; pending: boolean; createdVersion: string }>(
      `select sort_date::text as "sortDate", id, status = 'PENDING' as pending, created_version::text as "createdVersion" from bank_transaction
        where account_id = $1 and removed_at is null order by status = 'PENDING' desc, sort_date desc, created_version desc, id desc offset $2 limit 1`,
      [bench, Math.floor(o.benchRows / 2)],
    );
    const { rows: size } = await pool.query<{ total: string; n: number }>(
      `select pg_size_pretty(pg_total_relation_size('bank_transaction')) as total, (select count(*)::int from bank_transaction) as n`,
    );
    log(`bank_transaction: ${size[0]!.n.toLocaleString('en-US')} rows, ${size[0]!.total} with indexes`);
    return { key, tenantId, accountId: bench!, deep: deep[0]!, table: size[0]! };
  } finally {
    await pool.end();
  }
}

/**
 * Runs the load against `url` for `warmup` + `duration` seconds; `pid`: the server's process, whose
 * CPU time in the measured window is reported.
 */
async function load(
  url: string,
  body: unknown,
  headers: string[],
  o: Pick<PageBenchOptions, 'concurrency' | 'warmup' | 'duration'>,
  pid: number,
): Promise<LoadResult> {
  const args = [
    '--server-pid',
    String(pid),
    '--url',
    url,
    '--body',
    JSON.stringify(body),
    '--concurrency',
    String(o.concurrency),
    '--warmup',
    String(o.warmup),
    '--duration',
    String(o.duration),
  ];
  for (const h of headers) args.push('--header', h);
  const out = await output(spawnTsx('bench/load.ts', args));
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
  if (r.errors > 0) throw new Error(`${url}: ${r.errors} of ${r.requests} answers were errors, e.g. ${r.firstError}`);
  return r;
}

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ data: { account: { transactions: { edges: { cursor: string; node: { id: string } }[] } } } }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const json = (await res.json()) as never;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/**
 * The peer's page: PostGraphile's own schema over the same table (its Amber preset orders only by
 * indexed columns: `version`, whose index is (account_id, version)), the same fields per row.
 */
const PEER_PAGE = `query($id: UUID!) { accountByRowId(rowId: $id) { bankTransactionsByAccountId(first: 100, orderBy: [VERSION_DESC]) {
  edges { cursor node { id status amount currency bookingDate valueDate counterpartyName counterpartyIban remittance description } } pageInfo { hasNextPage endCursor } } } }`;

/** PostGraphile's version in POSTGRAPHILE_DIR. */
function peerVersion(): string {
  const dir = process.env.POSTGRAPHILE_DIR!;
  return (JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', 'postgraphile', 'package.json'), 'utf8')) as { version: string }).version;
}

/** The port a server child prints as `listening <port>`. */
function listening(child: ChildProcess, name: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const m = /listening (\d+)/.exec(d);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
  });
}

export default async function pageBench(options: PageBenchOptions = {}, log: (s: string) => void = (s) => console.error(s)): Promise<string> {
  const o: Required<PageBenchOptions> = {
    rows: 1_000_000,
    benchRows: 100_000,
    accounts: 900,
    concurrency: 32,
    warmup: 3,
    duration: 10,
    deep: true,
    ...options,
  };
  if (o.benchRows > o.rows || o.benchRows < 200) throw new Error('need 200 ≤ bench rows ≤ rows');
  const db = await benchDatabase('pagebench');
  const results: { label: string; gateway: LoadResult; bare: LoadResult }[] = [];
  let peer: LoadResult | undefined;
  const loads: string[] = [];
  try {
    const p = await prepare(db, o, log);
    const gid = Buffer.from(`gid://passerelle/Account/${p.accountId}`, 'utf8').toString('base64url');
    const deepCursor = Buffer.from(`t2|${p.accountId}|${p.deep.pending ? 'P' : 'B'}|${p.deep.sortDate}|${p.deep.createdVersion}|${p.deep.id}`, 'utf8').toString(
      'base64url',
    );
    const cases = [
      {
        label: 'first page',
        gql: { query: FIRST_PAGE, variables: { id: gid } },
        bare: { tenantId: p.tenantId, accountId: p.accountId, first: 100, after: null },
      },
      ...(o.deep
        ? [
            {
              label: `deep page (after row ${Math.floor(o.benchRows / 2).toLocaleString('en-US')}, via cursor)`,
              gql: { query: AFTER_PAGE, variables: { id: gid, after: deepCursor } },
              bare: { tenantId: p.tenantId, accountId: p.accountId, first: 100, after: p.deep },
            },
          ]
        : []),
    ];
    const gatewayResults: LoadResult[] = [];
    const bareResults: LoadResult[] = [];
    const answers: string[][] = [];

    // (a) The gateway, compiled, one Node process as in production.
    await ensureBuilt();
    const port = await freePort();
    const gateway = spawnGateway(
      { ...BENCH_ENV, DATABASE_URL: db.url, DATA_DIR: db.dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()), REDIS_URL: undefined },
      'ignore',
    );
    try {
      await waitReady(`http://127.0.0.1:${port}/readyz`, gateway);
      const url = `http://127.0.0.1:${port}/graphql`;
      const auth = [`authorization: Bearer ${p.key}`];
      for (const c of cases) {
        const r = await post(url, c.gql, { authorization: `Bearer ${p.key}` });
        answers.push(r.data.account.transactions.edges.map((e) => `${e.cursor} ${e.node.id}`));
      }
      // Each server first serves every case unmeasured, so no row pays for the other's code being compiled.
      for (const c of cases) await load(url, c.gql, auth, { ...o, warmup: 0, duration: o.warmup }, gateway.pid!);
      for (const c of cases) {
        loads.push(machineLoad());
        gatewayResults.push(await load(url, c.gql, auth, o, gateway.pid!));
      }
    } finally {
      await stop(gateway);
    }

    // (b) The bare node:http + pg server, same SQL.
    const bare = spawnOnBenchNode('bench/bare-server.ts', [], { DATABASE_URL: db.url, PORT: '0', POOL_SIZE: BENCH_ENV.DB_POOL_SIZE });
    try {
      const bound = await listening(bare, 'bare server');
      const url = `http://127.0.0.1:${bound}/`;
      for (const c of cases) await load(url, c.bare, [], { ...o, warmup: 0, duration: o.warmup }, bare.pid!);
      for (const [i, c] of cases.entries()) {
        const r = await post(url, c.bare);
        const got = r.data.account.transactions.edges.map((e) => `${e.cursor} ${e.node.id}`);
        if (got.length !== 100 || JSON.stringify(got) !== JSON.stringify(answers[i]))
          throw new Error(
            `${c.label}: the bare server's page differs from the gateway's: ${got.length} rows, first ${got[0]} against ${answers[i]?.[0]} (${answers[i]?.length} rows)`,
          );
        loads.push(machineLoad());
        bareResults.push(await load(url, c.bare, [], o, bare.pid!));
      }
    } finally {
      await stop(bare);
    }
    cases.forEach((c, i) => results.push({ label: c.label, gateway: gatewayResults[i]!, bare: bareResults[i]! }));

    // (c) The peer, when installed: PostGraphile 5 over the same database, first page only.
    if (process.env.POSTGRAPHILE_DIR) {
      const server = spawn(benchNode, ['bench/peer-postgraphile.mjs'], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: db.url, PORT: '0', POOL_SIZE: BENCH_ENV.DB_POOL_SIZE },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const bound = await listening(server, 'PostGraphile');
        const url = `http://127.0.0.1:${bound}/graphql`;
        const body = { query: PEER_PAGE, variables: { id: p.accountId } };
        const res = (await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as {
          data?: { accountByRowId: { bankTransactionsByAccountId: { edges: unknown[] } } };
        };
        if (res.data?.accountByRowId.bankTransactionsByAccountId.edges.length !== 100)
          throw new Error(`PostGraphile's page: ${JSON.stringify(res).slice(0, 300)}`);
        await load(url, body, [], { ...o, warmup: 0, duration: o.warmup }, server.pid!);
        loads.push(machineLoad());
        peer = await load(url, body, [], o, server.pid!);
      } finally {
        await stop(server);
      }
    }
  } finally {
    await db.drop();
  }

  const cpu = (r: LoadResult) => r.serverCpuMs / r.requests;
  const rowsOf = (r: (typeof results)[number]) => [
    `| ${r.label} | (a) gateway: Apollo GraphQL \`account.transactions(first: 100)\` | ${num(r.gateway.rps)} | ${ms(r.gateway.p50ms)} | ${ms(r.gateway.p99ms)} | ${r.gateway.requests.toLocaleString('en-US')} | ${r.gateway.bytes.toLocaleString('en-US')} | ${cpu(r.gateway).toFixed(3)} |`,
    `| ${r.label} | (b) bare node:http + pg, same SQL | ${num(r.bare.rps)} | ${ms(r.bare.p50ms)} | ${ms(r.bare.p99ms)} | ${r.bare.requests.toLocaleString('en-US')} | ${r.bare.bytes.toLocaleString('en-US')} | ${cpu(r.bare).toFixed(3)} |`,
    `| ${r.label} | **a / b** | **${ratio(r.gateway.rps, r.bare.rps)}** | | | | | ${ratio(cpu(r.bare), cpu(r.gateway))} |`,
  ];
  return [
    `Transactions page over HTTP: ${o.rows.toLocaleString('en-US')} rows in \`bank_transaction\` (${o.benchRows.toLocaleString('en-US')} in the account, the rest over ${o.accounts} accounts), 100-row page, concurrency ${o.concurrency}, keep-alive; each server first serves every case for ${o.warmup} s unmeasured, then per row ${o.warmup} s warm-up + ${o.duration} s measured; PostgreSQL, both servers on Node ${benchNodeVersion()}, pool 10 in both servers. Server CPU: user + system time of the server's process in the measured window, per request (the last column's ratio is bare ÷ gateway, so like requests/s higher is better; it moves less with the machine's load). Machine before each run: ${loads.join('; ')}`,
    '',
    '| page | server | requests/s | p50 ms | p99 ms | requests | bytes/answer | server CPU ms/request |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...results.flatMap(rowsOf),
    ...(peer
      ? [
          `| first page | (c) PostGraphile ${peerVersion()} (Amber preset), same database: \`accountByRowId.bankTransactionsByAccountId(first: 100, orderBy: VERSION_DESC)\` | ${num(peer.rps)} | ${ms(peer.p50ms)} | ${ms(peer.p99ms)} | ${peer.requests.toLocaleString('en-US')} | ${peer.bytes.toLocaleString('en-US')} | ${cpu(peer).toFixed(3)} |`,
          `| first page | **c / b** | **${ratio(peer.rps, results[0]!.bare.rps)}** | | | | | ${ratio(cpu(results[0]!.bare), cpu(peer))} |`,
          `| first page | **a / c** | **${ratio(results[0]!.gateway.rps, peer.rps)}** | | | | | ${ratio(cpu(peer), cpu(results[0]!.gateway))} |`,
        ]
      : []),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      'bench-rows': { type: 'string', default: '100000' },
      accounts: { type: 'string', default: '900' },
      concurrency: { type: 'string', default: '32' },
      warmup: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      'no-deep': { type: 'boolean', default: false },
    },
  });
  console.log(
    await pageBench({
      rows: Number(values.rows),
      benchRows: Number(values['bench-rows']),
      accounts: Number(values.accounts),
      concurrency: Number(values.concurrency),
      warmup: Number(values.warmup),
      duration: Number(values.duration),
      deep: !values['no-deep'],
    }),
  );
  process.exit(0);
}
