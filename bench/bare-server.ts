// The baseline of the page benchmark: node:http + pg and nothing else. POST a JSON body
// { tenantId, accountId, first, after?: { pending, sortDate, createdVersion, id } } and get the same page the gateway
// serves (same SQL text as transactionPage without filters: same columns, order, LIMIT first + 1)
// in the same response shape as the GraphQL query (edges with cursor and node, pageInfo).
//   DATABASE_URL=… PORT=0 POOL_SIZE=10 npx tsx bench/bare-server.ts   → prints "listening <port>"
import http from 'node:http';
import pg from 'pg';

const RECORD_COLUMNS = `id, account_id as "accountId", status, amount::text as amount, currency,
  booking_date as "bookingDate", value_date as "valueDate", transaction_date as "transactionDate", sort_date as "sortDate",
  counterparty_name as "counterpartyName", counterparty_iban as "counterpartyIban", remittance as "remittanceInformation",
  description, end_to_end_id as "endToEndId", bank_transaction_code as "bankTransactionCode",
  bank_transaction_id as "bankTransactionId", pending_origin as "pendingOrigin"`;
const ORDER = `order by status = 'PENDING' desc, sort_date desc, created_version desc, id desc`;
// Published rows only, as transactionPage reads them.
const PUBLISHED = 'created_version <= coalesce((select after_version from sync_unpublished where account_id = $2), 9223372036854775807)';
const FIRST = `select ${RECORD_COLUMNS}, created_version::text as "createdVersion" from bank_transaction where tenant_id = $1 and account_id = $2 and removed_at is null
  and ${PUBLISHED} ${ORDER} limit $3`;
const AFTER = `select ${RECORD_COLUMNS}, created_version::text as "createdVersion" from bank_transaction where tenant_id = $1 and account_id = $2 and removed_at is null
  and ${PUBLISHED}
  and (status = 'PENDING', sort_date, created_version, id) < ($3::boolean, $4::date, $5::bigint, $6::uuid) ${ORDER} limit $7`;

// Dates as the gateway's pool returns them: 'YYYY-MM-DD' strings, not Date objects.
pg.types.setTypeParser(1082, (v) => v);

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 10) });

interface Row {
  id: string;
  accountId: string;
  status: string;
  amount: string;
  currency: string;
  bookingDate: string | null;
  valueDate: string | null;
  sortDate: string;
  createdVersion: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittanceInformation: string | null;
  description: string | null;
}

const gid = (type: string, id: string) => Buffer.from(`gid://passerelle/${type}/${id}`, 'utf8').toString('base64url');
const cursor = (r: Row) =>
  Buffer.from(`t2|${r.accountId}|${r.status === 'PENDING' ? 'P' : 'B'}|${r.sortDate}|${r.createdVersion}|${r.id}`, 'utf8').toString('base64url');

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (body += d));
  req.on('end', () => {
    void (async () => {
      try {
        const q = JSON.parse(body) as {
          tenantId: string;
          accountId: string;
          first: number;
          after?: { pending: boolean; sortDate: string; createdVersion: string; id: string } | null;
        };
        const { rows } = q.after
          ? await pool.query<Row>({
              text: AFTER,
              values: [q.tenantId, q.accountId, q.after.pending, q.after.sortDate, q.after.createdVersion, q.after.id, q.first + 1],
            })
          : await pool.query<Row>({ text: FIRST, values: [q.tenantId, q.accountId, q.first + 1] });
        const page = rows.slice(0, q.first);
        const edges = page.map((r) => ({
          cursor: cursor(r),
          node: {
            id: gid('Transaction', r.id),
            status: r.status,
            amount: { amount: r.amount, currency: r.currency },
            bookingDate: r.bookingDate,
            valueDate: r.valueDate,
            counterparty: r.counterpartyName !== null || r.counterpartyIban !== null ? { name: r.counterpartyName, iban: r.counterpartyIban } : null,
            remittanceInformation: r.remittanceInformation,
            description: r.description,
          },
        }));
        const out = JSON.stringify({
          data: { account: { transactions: { edges, pageInfo: { hasNextPage: rows.length > q.first, endCursor: edges.at(-1)?.cursor ?? null } } } },
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      }
    })();
  });
});
server.keepAliveTimeout = 65_000;

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
const shutdown = () => {
  server.close(() => void pool.end().then(() => process.exit(0)));
  server.closeAllConnections();
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
