import type pg from 'pg';
import { newRowId } from '../../kernel/ids';
import { atCurrencyScale } from '../../kernel/money';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { PendingOrigin, ReconcileResult, StoredTransaction, TransactionRow } from './reconcile';

/**
 * Storage of transactions in plain SQL: pages and the change feed are the hot read paths (no
 * entity hydration), and syncs write set-based (one `INSERT … SELECT FROM unnest(…)` per chunk)
 * rather than row by row.
 */

/** A transaction as pages and the change feed read it: already in the shape the API answers. */
export interface TransactionRecord {
  id: string;
  accountId: string;
  status: 'BOOKED' | 'PENDING';
  amount: string;
  currency: string;
  bookingDate: string | null;
  valueDate: string | null;
  transactionDate: string | null;
  sortDate: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittanceInformation: string | null;
  description: string | null;
  endToEndId: string | null;
  bankTransactionCode: string | null;
  bankTransactionId: string | null;
  pendingOrigin: PendingOrigin | null;
}

export interface TransactionFilter {
  from?: string | null;
  to?: string | null;
  status?: 'BOOKED' | 'PENDING' | null;
  minAmount?: string | null;
  maxAmount?: string | null;
  search?: string | null;
}

const RECORD_COLUMNS = `id, account_id as "accountId", status, amount::text as amount, currency,
  booking_date as "bookingDate", value_date as "valueDate", transaction_date as "transactionDate", sort_date as "sortDate",
  counterparty_name as "counterpartyName", counterparty_iban as "counterpartyIban", remittance as "remittanceInformation",
  description, end_to_end_id as "endToEndId", bank_transaction_code as "bankTransactionCode",
  bank_transaction_id as "bankTransactionId", pending_origin as "pendingOrigin"`;

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/**
 * SQL for the highest version of the account named by `accountParam` (e.g. `$2`) that a read may
 * show: all of them, unless a first sync of the account committed rows it has not published yet
 * (TransactionStaging), which stay out. Reads the small sync_unpublished table, never the account
 * row, so a page waits for no lock on `account`.
 */
export const publishedUpTo = (accountParam: string): string =>
  `coalesce((select after_version from sync_unpublished where account_id = ${accountParam}), 9223372036854775807)`;

/** Where a transaction stands in its account's page order (a cursor names one). */
export interface TransactionPosition {
  pending: boolean;
  sortDate: string;
  /** The account version at which the gateway first stored it: a per-account sequence, so ties never follow a random id. */
  createdVersion: string;
  id: string;
}

/**
 * One page of an account's transactions: pending ones on top, then newest date first, then the
 * per-account sequence (latest stored first): `limit + 1` rows so the caller can tell whether
 * another page follows. `after` is the last row's position.
 */
export async function transactionPage(
  db: Queryable,
  tenantId: string,
  accountId: string,
  limit: number,
  after: TransactionPosition | null,
  filter: TransactionFilter,
): Promise<(TransactionRecord & { createdVersion: string })[]> {
  const params: unknown[] = [tenantId, accountId];
  const where = ['tenant_id = $1', 'account_id = $2', 'removed_at is null', `created_version <= ${publishedUpTo('$2')}`];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (after) {
    where.push(
      `(status = 'PENDING', sort_date, created_version, id) < (${p(after.pending)}::boolean, ${p(after.sortDate)}::date, ${p(after.createdVersion)}::bigint, ${p(after.id)}::uuid)`,
    );
  }
  if (filter.from) where.push(`sort_date >= ${p(filter.from)}::date`);
  if (filter.to) where.push(`sort_date <= ${p(filter.to)}::date`);
  if (filter.status) where.push(`status = ${p(filter.status)}`);
  if (filter.minAmount) where.push(`amount >= ${p(filter.minAmount)}::numeric`);
  if (filter.maxAmount) where.push(`amount <= ${p(filter.maxAmount)}::numeric`);
  if (filter.search) {
    const pattern = p(`%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`(description ilike ${pattern} or counterparty_name ilike ${pattern} or remittance ilike ${pattern})`);
  }
  const text = `select ${RECORD_COLUMNS}, created_version::text as "createdVersion" from bank_transaction where ${where.join(' and ')}
    order by status = 'PENDING' desc, sort_date desc, created_version desc, id desc limit ${p(limit + 1)}`;
  const { rows } = await db.query<TransactionRecord & { createdVersion: string }>({ text, values: params });
  return rows;
}

/** Transactions by id within a tenant (removed ones included: the change feed names them). */
export async function transactionsByIds(db: Queryable, tenantId: string, ids: string[]): Promise<TransactionRecord[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<TransactionRecord>(`select ${RECORD_COLUMNS} from bank_transaction where tenant_id = $1 and id = any($2::uuid[])`, [
    tenantId,
    ids,
  ]);
  return rows;
}

/** The raw bank payloads of some transactions (asked for rarely; never on the page's hot path). */
export async function rawPayloads(db: Queryable, tenantId: string, ids: string[]): Promise<Map<string, unknown>> {
  const { rows } = await db.query<{ id: string; raw: unknown }>('select id, raw from bank_transaction where tenant_id = $1 and id = any($2::uuid[])', [
    tenantId,
    ids,
  ]);
  return new Map(rows.map((r) => [r.id, r.raw]));
}

/** One entry of the change feed: the row's latest state, and whether the reader already knew it. */
export interface FeedEntry {
  version: string;
  kind: 'ADDED' | 'MODIFIED' | 'REMOVED';
  /** Null only for a row both added and removed after the reader's position (it is skipped). */
  record: TransactionRecord;
}

/**
 * Changes after `afterVersion`, in version order, at most `limit + 1` rows. Each row appears once
 * with its latest state: added when it was created after the position, else modified or removed.
 */
export async function feedAfter(
  db: Queryable,
  tenantId: string,
  accountId: string,
  afterVersion: string,
  limit: number,
): Promise<(FeedEntry | { version: string; kind: 'SKIP' })[]> {
  const { rows } = await db.query<TransactionRecord & { version: string; createdVersion: string; removed: boolean }>({
    text: `select ${RECORD_COLUMNS}, version::text as version, created_version::text as "createdVersion", removed_at is not null as removed
      from bank_transaction where tenant_id = $1 and account_id = $2 and version > $3::bigint
        and version <= ${publishedUpTo('$2')} order by bank_transaction.version limit $4`,
    values: [tenantId, accountId, afterVersion, limit + 1],
  });
  return rows.map(({ version, createdVersion, removed, ...record }) => {
    const isNew = BigInt(createdVersion) > BigInt(afterVersion);
    if (removed) return isNew ? { version, kind: 'SKIP' as const } : { version, kind: 'REMOVED' as const, record };
    return { version, kind: isNew ? ('ADDED' as const) : ('MODIFIED' as const), record };
  });
}

/** The stored rows a sync over `dateFrom…` covers: every live row dated from then, and every pending one. */
export async function loadWindow(client: pg.PoolClient, accountId: string, dateFrom: string): Promise<StoredTransaction[]> {
  const { rows } = await client.query<StoredTransaction>(
    `select id, bank_transaction_id as "bankTransactionId", status, fingerprint, occurrence, content_hash as "contentHash",
       amount::text as amount, currency, booking_date as "bookingDate", value_date as "valueDate", transaction_date as "transactionDate",
       counterparty_name as "counterpartyName", counterparty_iban as "counterpartyIban", remittance as "remittanceInformation",
       end_to_end_id as "endToEndId"
     from bank_transaction where account_id = $1 and removed_at is null and (sort_date >= $2::date or status = 'PENDING')`,
    [accountId, dateFrom],
  );
  return rows;
}

const INSERT_CHUNK = 5_000;

/** What a write changed: ids of inserted, updated and removed rows, and the account's new version. */
export interface AppliedChanges {
  version: string;
  added: string[];
  modified: string[];
  removed: string[];
}

/**
 * Writes a reconciliation inside the caller's transaction (which holds the account row lock):
 * every insert, update and removal takes the next account version, in that order.
 */
export async function applyChanges(
  client: pg.PoolClient,
  account: { tenantId: string; accountId: string; version: string },
  result: ReconcileResult,
  options: { copy?: boolean } = {},
): Promise<AppliedChanges> {
  let version = BigInt(account.version);
  const next = () => String(++version);
  const added: string[] = [];
  const copied = options.copy === true && result.inserts.length >= COPY_THRESHOLD;
  if (copied) {
    // Large first syncs: COPY streams the rows at the server's bulk-load speed.
    const ids = result.inserts.map(() => newRowId());
    const versions = result.inserts.map(() => next());
    await copyInserts(client, account, result.inserts, ids, versions);
    added.push(...ids);
  }
  for (let i = 0; !copied && i < result.inserts.length; i += INSERT_CHUNK) {
    const chunk = result.inserts.slice(i, i + INSERT_CHUNK);
    const ids = chunk.map(() => newRowId());
    const versions = chunk.map(() => next());
    added.push(...ids);
    await client.query(
      `insert into bank_transaction (id, tenant_id, account_id, status, amount, currency, booking_date, value_date, transaction_date, sort_date,
         counterparty_name, counterparty_iban, remittance, description, end_to_end_id, bank_transaction_code, bank_transaction_id,
         fingerprint, occurrence, content_hash, raw, created_version, version)
       select u.id, $1, $2, u.status, u.amount, u.currency, u.booking_date, u.value_date, u.transaction_date, u.sort_date,
         u.counterparty_name, u.counterparty_iban, u.remittance, u.description, u.end_to_end_id, u.bank_transaction_code, u.bank_transaction_id,
         u.fingerprint, u.occurrence, u.content_hash, u.raw, u.version, u.version
       from unnest($3::uuid[], $4::text[], $5::numeric[], $6::text[], $7::date[], $8::date[], $9::date[], $10::date[], $11::text[], $12::text[],
         $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::int[], $20::text[], $21::jsonb[], $22::bigint[])
         as u(id, status, amount, currency, booking_date, value_date, transaction_date, sort_date, counterparty_name, counterparty_iban,
              remittance, description, end_to_end_id, bank_transaction_code, bank_transaction_id, fingerprint, occurrence, content_hash, raw, version)`,
      [account.tenantId, account.accountId, ids, ...columns(chunk), versions],
    );
  }
  const modified: string[] = [];
  for (let i = 0; i < result.updates.length; i += INSERT_CHUNK) {
    const chunk = result.updates.slice(i, i + INSERT_CHUNK);
    const versions = chunk.map(() => next());
    modified.push(...chunk.map((u) => u.id));
    await client.query(
      `update bank_transaction t set status = u.status, amount = u.amount, currency = u.currency, booking_date = u.booking_date,
         value_date = u.value_date, transaction_date = u.transaction_date, sort_date = u.sort_date, counterparty_name = u.counterparty_name,
         counterparty_iban = u.counterparty_iban, remittance = u.remittance, description = u.description, end_to_end_id = u.end_to_end_id,
         bank_transaction_code = u.bank_transaction_code, bank_transaction_id = u.bank_transaction_id, fingerprint = u.fingerprint,
         occurrence = u.occurrence, content_hash = u.content_hash, raw = u.raw, version = u.version,
         pending_origin = coalesce(u.pending_origin, t.pending_origin), updated_at = now()
       from unnest($1::uuid[], $2::text[], $3::numeric[], $4::text[], $5::date[], $6::date[], $7::date[], $8::date[], $9::text[], $10::text[],
         $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::int[], $18::text[], $19::jsonb[], $20::bigint[], $21::jsonb[])
         as u(id, status, amount, currency, booking_date, value_date, transaction_date, sort_date, counterparty_name, counterparty_iban,
              remittance, description, end_to_end_id, bank_transaction_code, bank_transaction_id, fingerprint, occurrence, content_hash, raw, version, pending_origin)
       where t.id = u.id and t.account_id = $22`,
      [
        chunk.map((u) => u.id),
        ...columns(chunk.map((u) => u.row)),
        versions,
        chunk.map((u) => (u.pendingOrigin ? JSON.stringify(u.pendingOrigin) : null)),
        account.accountId,
      ],
    );
  }
  const removed = result.removals;
  if (removed.length > 0) {
    const versions = removed.map(() => next());
    await client.query(
      `update bank_transaction t set removed_at = now(), version = u.version, updated_at = now()
       from unnest($1::uuid[], $2::bigint[]) as u(id, version) where t.id = u.id and t.account_id = $3`,
      [removed, versions, account.accountId],
    );
  }
  return { version: String(version), added, modified, removed };
}

/**
 * SQL for an account's latest booking date among its live booked rows up to `version` (SQL
 * placeholders or literals), the account's `last_booked_date`. Taken as the first such row in page
 * order (bank_transaction_page_idx): a booked row's sort_date is its booking date (reconcile's
 * sortDate is the booking date first), so this is the rows' max(booking_date), read in a few index
 * entries where max() reads every row of the account (30–160 ms for 100,000 rows).
 */
export function latestBookingSql(accountId: string, version: string): string {
  return `(select booking_date from bank_transaction
     where account_id = ${accountId} and removed_at is null and status = 'BOOKED' and booking_date is not null and version <= ${version}::bigint
     order by sort_date desc, id desc limit 1)`;
}

const COPY_THRESHOLD = 2_000;
const COPY_COLUMNS =
  'id, tenant_id, account_id, status, amount, currency, booking_date, value_date, transaction_date, sort_date, counterparty_name, counterparty_iban, ' +
  'remittance, description, end_to_end_id, bank_transaction_code, bank_transaction_id, fingerprint, occurrence, content_hash, raw, created_version, version';

const COPY_SPECIAL = /[\\\n\r\t]/;
/** One COPY text-format field: backslash escapes, `\N` for null. Most values need none: tested before replacing. */
function field(v: string | number | null): string {
  if (v === null) return '\\N';
  const s = typeof v === 'string' ? v : String(v);
  return COPY_SPECIAL.test(s) ? s.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t')) : s;
}

/**
 * One row as a COPY text line, in COPY_COLUMNS order: the same values applyChanges binds (clipped,
 * amounts at currency scale). Spelled out field by field: this runs for every row of a first sync.
 */
function copyLine(prefix: string, r: TransactionRow, id: string, version: string): string {
  return (
    `${id}\t${prefix}${field(r.status)}\t${field(atCurrencyScale(r.amount, r.currency))}\t${field(r.currency)}\t${field(r.bookingDate)}\t` +
    `${field(r.valueDate)}\t${field(r.transactionDate)}\t${field(r.sortDate)}\t${field(clip(r.counterpartyName, STORED_LENGTH.counterpartyName))}\t` +
    `${field(clip(r.counterpartyIban, STORED_LENGTH.counterpartyIban))}\t${field(r.remittanceInformation)}\t${field(clip(r.description, STORED_LENGTH.description))}\t` +
    `${field(clip(r.endToEndId, STORED_LENGTH.endToEndId))}\t${field(clip(r.bankTransactionCode, STORED_LENGTH.bankTransactionCode))}\t${field(clip(r.bankTransactionId, STORED_LENGTH.bankTransactionId))}\t` +
    `${field(r.fingerprint)}\t${r.occurrence}\t${field(r.contentHash)}\t${field(r.raw === undefined ? null : JSON.stringify(r.raw))}\t${version}\t${version}\n`
  );
}

/** Rows as COPY text lines; row i takes ids[i] and versions[i]. */
function copyText(account: { tenantId: string; accountId: string }, rows: TransactionRow[], ids: string[], versions: string[]): string {
  const prefix = `${field(account.tenantId)}\t${field(account.accountId)}\t`;
  let out = '';
  for (let i = 0; i < rows.length; i++) out += copyLine(prefix, rows[i]!, ids[i]!, versions[i]!);
  return out;
}

async function copyInserts(
  client: pg.PoolClient,
  account: { tenantId: string; accountId: string },
  rows: TransactionRow[],
  ids: string[],
  versions: string[],
): Promise<void> {
  function* lines() {
    for (let i = 0; i < rows.length; i += 2_000) yield copyText(account, rows.slice(i, i + 2_000), ids.slice(i, i + 2_000), versions.slice(i, i + 2_000));
  }
  await copyTransactions(client, lines());
}

/**
 * The role that may COPY straight into bank_transaction (insert only, past row-level security;
 * Migration20261209010001BulkLoader). It may be missing: the migration needs a superuser to create it.
 */
const LOADER_ROLE = 'passerelle_loader';
/** Whether this connection's login may enter LOADER_ROLE, and the role may insert into this database's bank_transaction. */
const LOADER_USABLE = `coalesce((select pg_has_role(session_user, r.oid, 'MEMBER') and has_table_privilege(r.oid, 'bank_transaction', 'INSERT')
  from pg_roles r where r.rolname = '${LOADER_ROLE}' and r.rolbypassrls), false)`;

/** The session-private table COPY fills before one INSERT … SELECT moves its rows into bank_transaction; emptied at each commit. */
async function stagingTable(client: pg.PoolClient): Promise<void> {
  // Only the copied columns, without constraints: the insert into bank_transaction checks them.
  await client.query(
    `create temp table if not exists bank_transaction_staging on commit delete rows as select ${COPY_COLUMNS} from bank_transaction with no data`,
  );
}

/**
 * Streams COPY text lines into bank_transaction inside the caller's open transaction. PostgreSQL
 * refuses COPY FROM into a table under row-level security, so the rows land in a session-private
 * staging table first and reach bank_transaction with one INSERT … SELECT, which the table's
 * policies check row by row like any other insert (docs/row-level-security.md).
 */
async function copyTransactions(client: pg.PoolClient, chunks: Iterable<string>): Promise<void> {
  await stagingTable(client);
  await pipeline(Readable.from(chunks), client.query(copyFrom(`copy bank_transaction_staging (${COPY_COLUMNS}) from stdin`)));
  await client.query(`insert into bank_transaction (${COPY_COLUMNS}) select ${COPY_COLUMNS} from bank_transaction_staging`);
  await client.query(`truncate bank_transaction_staging`);
}

/**
 * Deletes, with its mark, what a first sync of the account committed and never published (see
 * TransactionStaging): a sync cut short, or an attempt that failed. Run under the account's sync
 * lock; when nothing is marked (nearly always) this is one index lookup. No unpublished row
 * outlives its mark: the mark is committed before the first row and deleted with the last.
 * Returns how many rows went.
 */
export async function discardUnpublished(client: pg.PoolClient, accountId: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `with mark as (delete from sync_unpublished where account_id = $1 returning after_version),
       gone as (delete from bank_transaction t using mark where t.account_id = $1 and t.version > mark.after_version returning 1)
     select count(*)::int as n from gone`,
    [accountId],
  );
  return rows[0]!.n;
}

/** Rows a first sync serialises before each committed chunk (a few MB of text). */
const STAGE_ROWS = 2_500;
/** Bytes reserved for a chunk's text at first: most chunks fit, a larger one gets a larger buffer. */
const STAGE_BYTES = 4 * 1024 * 1024;
/**
 * Serialised chunks (a few MB each) that may wait for the database, the one being written
 * included, before `room` makes the sync wait for it: when the database is slower than the bank,
 * a large first sync holds a few chunks in memory, not the whole account.
 */
const STAGE_BACKLOG = 4;

/**
 * A first sync's inserts, stored while the next pages are still being fetched, and published at
 * the end. Each page is serialised as it arrives; every STAGE_ROWS rows are committed into
 * bank_transaction in a short transaction of their own (COPY straight in as the bulk loader role
 * where it exists, else COPY into the session-private staging table and one INSERT … SELECT the
 * row-level security policies check; see `load`), on the sync's own
 * connection, while the gateway goes on reading the bank. Row n takes account version
 * `version` + n; a row of sync_unpublished, committed before the first chunk, keeps every read
 * from showing rows numbered after `version` (publishedUpTo) until the sync's write transaction
 * deletes it with `publish` as it sets the account's version. So the sync still appears whole or
 * not at all, and no transaction is held open while the bank answers (the event log waits for
 * every older running transaction). Same rows, ids and versions as applyChanges would write.
 * `discard` deletes what an attempt committed and did not publish.
 */
export class TransactionStaging {
  readonly #from: bigint;
  #version: bigint;
  readonly added: string[] = [];
  readonly #prefix: string;
  /**
   * The next chunk's COPY text, encoded line by line as rows arrive: no string of the whole chunk
   * to build and encode at once (which held the event loop while the bank's answers waited).
   */
  #text = Buffer.allocUnsafe(0);
  #bytes = 0;
  #rows = 0;
  /** The chunk being written, if any: one at a time, in order, on the sync's connection. */
  #copying: Promise<void> = Promise.resolve();
  /** Chunks serialised and not yet written, oldest first (the one being written included). */
  readonly #waiting: Promise<void>[] = [];
  #failed: unknown = null;
  #closed = false;
  #lastBooked: string | null = null;

  private constructor(
    private readonly client: pg.PoolClient,
    private readonly accountId: string,
    account: { tenantId: string; version: string },
    lastBooked: string | null,
    /** How chunks reach bank_transaction: COPY straight in as `passerelle_loader`, or through the session's staging table. */
    readonly load: 'direct' | 'staged',
  ) {
    this.#from = BigInt(account.version);
    this.#version = this.#from;
    this.#prefix = `${field(account.tenantId)}\t${field(accountId)}\t`;
    this.#lastBooked = lastBooked;
  }

  /** Rows for `account`, numbered after `account.version`, written on `client` (outside any transaction). */
  static async open(client: pg.PoolClient, account: { tenantId: string; accountId: string; version: string }): Promise<TransactionStaging> {
    // Committed before any row: from now on reads leave out what this sync writes.
    await client.query(
      `insert into sync_unpublished (account_id, tenant_id, after_version) values ($1, $2, $3)
       on conflict (account_id) do update set after_version = excluded.after_version, created_at = now()`,
      [account.accountId, account.tenantId, account.version],
    );
    // The rows stored before (outside the sync's window, if any): the sync adds its own as they arrive.
    const { rows } = await client.query<{ latest: string | null; loader: boolean }>(
      `select to_char(${latestBookingSql('$1', '$2')}, 'YYYY-MM-DD') as latest, ${LOADER_USABLE} as loader`,
      [account.accountId, account.version],
    );
    const loader = rows[0]?.loader === true;
    if (!loader) await stagingTable(client);
    return new TransactionStaging(client, account.accountId, account, rows[0]?.latest ?? null, loader ? 'direct' : 'staged');
  }

  /** Numbers and serialises `rows`; every STAGE_ROWS rows are committed while the caller goes on. */
  add(rows: TransactionRow[]): void {
    for (const r of rows) {
      if (r.status === 'BOOKED' && r.bookingDate !== null && (this.#lastBooked === null || r.bookingDate > this.#lastBooked)) this.#lastBooked = r.bookingDate;
      const id = newRowId();
      this.added.push(id);
      const line = copyLine(this.#prefix, r, id, String(++this.#version));
      // UTF-8 takes at most three bytes per UTF-16 unit.
      if (this.#bytes + line.length * 3 > this.#text.length) {
        this.#write();
        this.#text = Buffer.allocUnsafe(Math.max(STAGE_BYTES, line.length * 3));
      }
      this.#bytes += this.#text.write(line, this.#bytes);
      this.#rows++;
    }
    if (this.#rows >= STAGE_ROWS) this.#write();
  }

  #write(): void {
    if (this.#rows === 0) return;
    const text = this.#text.subarray(0, this.#bytes);
    this.#text = Buffer.allocUnsafe(0);
    this.#bytes = 0;
    this.#rows = 0;
    // Chunks are written one after the other: the one that ends is always the oldest waiting.
    const chunk = this.#copying.then(() => this.#copy(text)).finally(() => void this.#waiting.shift());
    this.#waiting.push(chunk);
    this.#copying = chunk;
  }

  async #copy(text: Buffer): Promise<void> {
    if (this.#failed !== null || this.#closed) return;
    const client = this.client;
    try {
      // Unpublished rows: a crash that loses this commit loses nothing the publishing commit, flushed later, relies on.
      if (this.load === 'direct') {
        // The role lasts until this transaction ends: the commit, or the catch's rollback.
        await client.query(`begin; set local synchronous_commit = off; set local role ${LOADER_ROLE}`);
        await pipeline(Readable.from([text]), client.query(copyFrom(`copy bank_transaction (${COPY_COLUMNS}) from stdin`)));
        await client.query('commit');
      } else {
        await client.query('begin; set local synchronous_commit = off');
        await pipeline(Readable.from([text]), client.query(copyFrom(`copy bank_transaction_staging (${COPY_COLUMNS}) from stdin`)));
        // One round trip: a failed insert skips the commit, and the catch rolls back.
        await client.query(`insert into bank_transaction (${COPY_COLUMNS}) select ${COPY_COLUMNS} from bank_transaction_staging; commit`);
      }
    } catch (err) {
      this.#failed = err;
      await client.query('rollback').catch(() => undefined);
    }
  }

  /** Resolves once fewer than STAGE_BACKLOG chunks wait for the database: `add` more rows then. */
  async room(): Promise<void> {
    while (this.#waiting.length >= STAGE_BACKLOG) await this.#waiting[0];
  }

  /** The account version that publishes these rows. */
  get version(): string {
    return String(this.#version);
  }

  /** The latest booking date of the account's booked rows once these are published (YYYY-MM-DD): those stored before and these; null while none is booked. */
  get lastBooked(): string | null {
    return this.#lastBooked;
  }

  /** The account version these rows were numbered after. */
  get fromVersion(): string {
    return String(this.#from);
  }

  /** No more rows: starts writing what is left, without waiting for it (`stored` waits). */
  end(): void {
    if (!this.#closed) this.#write();
  }

  /** Writes what is left and waits for every chunk; throws the first chunk's error. Outside any transaction. */
  async stored(): Promise<void> {
    if (this.#closed) throw new Error('the staged rows were discarded');
    this.#write();
    await this.#copying;
    if (this.#failed !== null) throw this.#failed;
  }

  /** Publishes the rows, in the caller's open transaction (the one that sets the account's version to `version`), after `stored`. */
  async publish(client: pg.PoolClient): Promise<void> {
    await client.query('delete from sync_unpublished where account_id = $1', [this.accountId]);
  }

  /** Once the transaction that published the rows committed: nothing left to discard. */
  published(): void {
    this.#closed = true;
    this.#text = Buffer.allocUnsafe(0);
    this.#bytes = 0;
    this.#rows = 0;
  }

  /** Deletes what this attempt committed, once the chunk in flight is done (a failed or abandoned attempt); no-op once published. */
  async discard(): Promise<void> {
    // Once is enough: a failed sync discards before its error path and again when it ends.
    if (this.#closed) return;
    this.#closed = true;
    this.#text = Buffer.allocUnsafe(0);
    this.#bytes = 0;
    this.#rows = 0;
    await this.#copying;
    await discardUnpublished(this.client, this.accountId);
  }
}

function columns(rows: TransactionRow[]): unknown[][] {
  return [
    rows.map((r) => r.status),
    rows.map((r) => atCurrencyScale(r.amount, r.currency)),
    rows.map((r) => r.currency),
    rows.map((r) => r.bookingDate),
    rows.map((r) => r.valueDate),
    rows.map((r) => r.transactionDate),
    rows.map((r) => r.sortDate),
    rows.map((r) => clip(r.counterpartyName, STORED_LENGTH.counterpartyName)),
    rows.map((r) => clip(r.counterpartyIban, STORED_LENGTH.counterpartyIban)),
    rows.map((r) => r.remittanceInformation),
    rows.map((r) => clip(r.description, STORED_LENGTH.description)),
    rows.map((r) => clip(r.endToEndId, STORED_LENGTH.endToEndId)),
    rows.map((r) => clip(r.bankTransactionCode, STORED_LENGTH.bankTransactionCode)),
    rows.map((r) => clip(r.bankTransactionId, STORED_LENGTH.bankTransactionId)),
    rows.map((r) => r.fingerprint),
    rows.map((r) => r.occurrence),
    rows.map((r) => r.contentHash),
    rows.map((r) => (r.raw === undefined ? null : JSON.stringify(r.raw))),
  ];
}

/** The longest text each clipped column keeps: one list for the bound inserts (columns) and the COPY lines (copyLine). */
const STORED_LENGTH = {
  counterpartyName: 300,
  counterpartyIban: 34,
  description: 300,
  endToEndId: 100,
  bankTransactionCode: 100,
  bankTransactionId: 200,
} as const;

const clip = (v: string | null, max: number) => (v !== null && v.length > max ? v.slice(0, max) : v);
