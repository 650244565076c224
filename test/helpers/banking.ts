import { TEST_USERS } from '../../sandbox';
import { MiniBrowser } from '../../sandbox/testing/harness';
import { parseGlobalId } from '../../src/api/relay/global-id';
import { sandboxAdminToken, sandboxPartition } from '../../src/gateway';
import type { TestGateway } from './gateway';

/** Where the developer's app receives the end user back (allowed for sandbox tenants). */
export const RETURN_URL = 'http://localhost:3999/bank-return';
export const user = (username: string) => TEST_USERS.find((u) => u.username === username)!;

/**
 * Calls the in-process sandbox's control API of a test gateway, in the partition of `tenantId`
 * (the banks that tenant's calls reach); by default the first sandbox tenant the test created.
 */
export async function control<T = Record<string, unknown>>(t: TestGateway, method: string, path: string, body?: unknown, tenantId?: string): Promise<T> {
  const res = await fetch(`${sandboxCopyUrl(t, tenantId)}/control${path}`, {
    method,
    headers: { authorization: `Bearer ${sandboxAdminToken(t.config)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`control ${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/** The root of a sandbox tenant's own copy of the sandbox (default: the first sandbox tenant made). */
export function sandboxCopyUrl(t: TestGateway, tenantId?: string): string {
  if (!tenantId && t.sandboxTenants.length === 0) throw new Error('control: no sandbox tenant created yet; give one');
  return `${t.gateway.baseUrl}/sandbox/t/${sandboxPartition(sandboxAdminToken(t.config), tenantId ?? t.sandboxTenants[0])}`;
}

/** The IBAN of a test user's first non-card account at a sandbox bank: a debtor account for payments. */
export async function debtorIbanAt(t: TestGateway, bankId: string, username = 'alice', tenantId?: string): Promise<string> {
  const r = await control<{ accounts: { iban: string | null; kind: string }[] }>(t, 'GET', `/banks/${bankId}/users/${username}/accounts`, undefined, tenantId);
  return r.accounts.find((a) => a.iban && a.kind !== 'CARD')!.iban!;
}

/** The end user at the bank's pages, then through the gateway's callback back to the developer. */
export async function authorise(t: TestGateway, authorizationUrl: string, username: string): Promise<URL> {
  const u = user(username);
  const browser = new MiniBrowser();
  const callback = `${t.gateway.publicUrl}/callback`;
  let back = await browser.go(authorizationUrl, {}, callback);
  back ??= await browser.authenticate(u.username, u.otp, callback);
  if (!back) throw new Error(`bank did not redirect back: ${browser.html.slice(0, 300)}`);
  const final = await browser.go(back.replace(t.gateway.publicUrl, t.gateway.baseUrl), {}, RETURN_URL);
  if (!final) throw new Error(`gateway did not redirect to the developer: ${browser.status} ${browser.html.slice(0, 300)}`);
  return new URL(final);
}

export interface Connected {
  consentId: string;
  accounts: { id: string; internalId: string; iban: string | null; bankAccountId: string }[];
}

/** Creates an end user's consent at a sandbox bank over GraphQL and authorises it as `username`. */
export async function connect(
  t: TestGateway,
  key: string,
  endUserId: string,
  bankId: string,
  username = 'alice',
  extra: Record<string, unknown> = {},
): Promise<Connected> {
  const created = await t.gql<{ consentCreate: { consent: { id: string }; authorizationUrl: string; userErrors: unknown[] } }>(
    `mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } authorizationUrl userErrors { field code message } } }`,
    { input: { endUserId, institutionId: institutionGid(bankId), scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'], redirectUri: RETURN_URL, ...extra } },
    key,
  );
  const payload = created.body.data?.consentCreate;
  if (!payload || payload.userErrors.length) throw new Error(`consentCreate: ${JSON.stringify(created.body)}`);
  const back = await authorise(t, payload.authorizationUrl, username);
  if (back.searchParams.get('outcome') !== 'success') throw new Error(`authorisation outcome ${back.search}`);
  return { consentId: payload.consent.id, accounts: await accountsOf(t, key, payload.consent.id) };
}

export async function accountsOf(t: TestGateway, key: string, consentId: string): Promise<Connected['accounts']> {
  const r = await t.gql<{ node: { accounts: { id: string; iban: string | null }[] } }>(
    'query($id: ID!) { node(id: $id) { ... on Consent { accounts { id iban } } } }',
    { id: consentId },
    key,
  );
  const out: Connected['accounts'] = [];
  for (const a of r.body.data!.node.accounts) {
    const internalId = parseGlobalId(a.id)!.id;
    const { rows } = await t.gateway.db.sql.query<{ bank_account_id: string }>('select bank_account_id from account where id = $1', [internalId]);
    out.push({ id: a.id, internalId, iban: a.iban, bankAccountId: rows[0]!.bank_account_id });
  }
  return out;
}

export const institutionGid = (slug: string) => Buffer.from(`gid://passerelle/Institution/${slug}`, 'utf8').toString('base64url');

export interface AccountState {
  syncStatus: string;
  syncError: string | null;
  lastSyncedAt: string | null;
  syncBudget: { remaining: number; resetsAt: string };
}

export async function accountState(t: TestGateway, key: string, accountId: string): Promise<AccountState> {
  const r = await t.gql<{ account: AccountState }>(
    'query($id: ID!) { account(id: $id) { syncStatus syncError lastSyncedAt syncBudget { remaining resetsAt } } }',
    { id: accountId },
    key,
  );
  if (!r.body.data?.account) throw new Error(`account: ${JSON.stringify(r.body)}`);
  return r.body.data.account;
}

/** Waits until the account's sync is no longer queued or running (and, with `after`, finished after it). */
export async function settled(t: TestGateway, key: string, accountId: string, after?: string | null, timeoutMs = 30_000): Promise<AccountState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await accountState(t, key, accountId);
    const fresh = after === undefined || (s.lastSyncedAt !== null && (after === null || s.lastSyncedAt > after));
    if (!['QUEUED', 'RUNNING'].includes(s.syncStatus) && (fresh || !['SUCCEEDED', 'NEVER_SYNCED'].includes(s.syncStatus))) return s;
    if (Date.now() > deadline) throw new Error(`sync did not settle: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The gateway's live transactions of an account as comparable keys (BOOKED|amount|booking date, PENDING|amount), sorted. */
export async function gatewayLedger(t: TestGateway, accountInternalId: string): Promise<string[]> {
  const { rows } = await t.gateway.db.sql.query<{ status: string; amount: string; d: string }>(
    `select status, amount::text as amount, coalesce(booking_date, value_date, transaction_date) as d from bank_transaction where account_id = $1 and removed_at is null`,
    [accountInternalId],
  );
  return rows.map((r) => (r.status === 'BOOKED' ? `BOOKED|${r.amount}|${r.d}` : `PENDING|${r.amount}`)).sort();
}

/** The bank's ledger of the same account from `dateFrom`, in the same keys. */
export async function bankLedger(t: TestGateway, bankId: string, bankAccountId: string, dateFrom: string): Promise<string[]> {
  const r = await control<{ transactions: { status: string; amount: string; bookingDate: string; valueDate: string }[] }>(
    t,
    'GET',
    `/banks/${bankId}/accounts/${encodeURIComponent(bankAccountId)}/ledger?dateFrom=${dateFrom}`,
  );
  // A pending entry has no booking date yet, and standards disagree on which date to show: compare its amount.
  return r.transactions.map((x) => (x.status === 'booked' ? `BOOKED|${x.amount}|${x.bookingDate}` : `PENDING|${x.amount}`)).sort();
}
