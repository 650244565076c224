/**
 * Transaction identity: turns one sync's fetch (every transaction of a window, page by page) into
 * inserts, updates and removals against the rows the gateway already stores, so that gateway ids
 * survive syncs, re-consents, churning bank ids and pending→booked (DESIGN.md §5). Pure: no I/O,
 * no clock, no floats; the same input always gives the same output.
 */
import { hash } from 'node:crypto';
import type { CanonicalTransaction } from '../../banking/model';
import { normaliseDecimal, parseDecimal, type ScaledDecimal } from './decimal';
import { cleanDescription } from './description';

/** A transaction as stored, in the covered window (not removed). */
export interface StoredTransaction {
  /** Gateway id: what the API exposes and what must never change for the same transaction. */
  id: string;
  bankTransactionId: string | null;
  status: 'BOOKED' | 'PENDING';
  fingerprint: string;
  occurrence: number;
  contentHash: string;
  /** Signed decimal string. */
  amount: string;
  currency: string;
  /** YYYY-MM-DD. */
  bookingDate: string | null;
  valueDate: string | null;
  transactionDate: string | null;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittanceInformation: string | null;
  endToEndId: string | null;
}

/** What the pending entry was, kept on the booked transaction it became. */
export interface PendingOrigin {
  bankTransactionId: string | null;
  amount: string;
  /** transactionDate ?? valueDate ?? bookingDate of the pending entry. */
  date: string | null;
}

/** A normalised row ready to store (insert or the new content of an update). */
export interface TransactionRow {
  bankTransactionId: string | null;
  status: 'BOOKED' | 'PENDING';
  /** Signed decimal, normalised ("-12.30" → "-12.3"). */
  amount: string;
  /** ISO 4217, upper case. */
  currency: string;
  bookingDate: string | null;
  valueDate: string | null;
  transactionDate: string | null;
  /** bookingDate ?? valueDate ?? transactionDate ?? the input's `today`; never null: the ordering key. */
  sortDate: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittanceInformation: string | null;
  /** cleanDescription(...) */
  description: string | null;
  endToEndId: string | null;
  bankTransactionCode: string | null;
  /** fingerprintOf the entry: identity when the bank's id cannot be used. */
  fingerprint: string;
  /** Index among this fetch's entries with the same fingerprint and status (twins: 0, 1, …). */
  occurrence: number;
  /** contentHashOf the row: an unchanged hash means nothing to write. */
  contentHash: string;
  raw: unknown;
}

/** One sync's fetch and what is stored for the same window. */
export interface ReconcileInput {
  /** Stored rows of the window that was fetched (not removed); any row not matched becomes a removal. */
  stored: StoredTransaction[];
  /** The bank's pages in order, as the adapter yielded them. */
  pages: CanonicalTransaction[][];
  /** Whether this bank's ids are trustworthy (institution quirk `transactionIdsUnstable` → false). */
  trustBankIds: boolean;
  /** Today (YYYY-MM-DD), used as sortDate when an entry has no date at all. */
  today: string;
}

/** What to write. Inserts follow the bank's order; updates and removals follow the stored rows' order. */
export interface ReconcileResult {
  inserts: TransactionRow[];
  /**
   * Stored rows whose content changed. `pendingOrigin` is set when a stored PENDING row became
   * booked; null means "no new lineage": keep whatever the row already records.
   */
  updates: { id: string; row: TransactionRow; pendingOrigin: PendingOrigin | null }[];
  /** Ids of stored rows the bank no longer reports. */
  removals: string[];
  stats: {
    /** Entries in all pages, before duplicates were dropped. */
    received: number;
    duplicatesDropped: number;
    matchedByBankId: number;
    matchedByFingerprint: number;
    /** Stored PENDING rows that became booked (by bank id or by pairing). */
    pendingBooked: number;
    /** Matched rows with nothing to write. */
    unchanged: number;
  };
}

/** An incoming entry after duplicates are dropped, with what identity needs. */
interface Entry {
  index: number;
  t: CanonicalTransaction;
  /** normaliseDecimal(t.amount.amount) */
  amount: string;
  fingerprint: string;
  occurrence: number;
  /** The entry's bank id when ids may be used for identity, else null. */
  id: string | null;
}

type MatchKind = 'bankId' | 'fingerprint' | 'pending';

const collapse = (s: string | null): string => (s ?? '').replace(/\s+/g, ' ').trim().toLowerCase();
// One-shot hashing (Node ≥ 20.12): no Hash object per call.
const sha256 = (parts: unknown[]): string => hash('sha256', JSON.stringify(parts), 'hex');
const dateOf = (t: { bookingDate: string | null; valueDate: string | null; transactionDate: string | null }): string | null =>
  t.bookingDate ?? t.valueDate ?? t.transactionDate;
const text = (s: string | null): string | null => {
  const trimmed = s?.trim();
  return trimmed ? trimmed : null;
};

/**
 * Identity of an entry when its bank id cannot be used: hex sha256 of the date (booking, else
 * value, else transaction), normalised amount, currency, counterparty name (lower case, spaces
 * collapsed), IBAN (upper case, no spaces) and remittance (lower case, spaces collapsed).
 * The status is not part of it; the occurrence index is kept beside it.
 */
export function fingerprintOf(t: CanonicalTransaction): string {
  return fingerprintOfNormalised(t, normaliseDecimal(t.amount.amount));
}

function fingerprintOfNormalised(t: CanonicalTransaction, amount: string): string {
  return sha256([
    dateOf(t) ?? '',
    amount,
    t.amount.currency.trim().toUpperCase(),
    collapse(t.counterpartyName),
    (t.counterpartyIban ?? '').replace(/\s+/g, '').toUpperCase(),
    collapse(t.remittanceInformation),
  ]);
}

type ContentFields = Omit<TransactionRow, 'contentHash' | 'raw' | 'fingerprint' | 'occurrence' | 'description' | 'sortDate'>;

/**
 * Hash of what a user can see change: status, normalised amount, currency, the three dates,
 * counterparty, remittance, end-to-end id and bank transaction code. Not the bank id (churning
 * ids are not a change) and not `raw`.
 */
export function contentHashOf(row: ContentFields): string {
  return hashContent({ ...row, amount: normaliseDecimal(row.amount) });
}

function hashContent(row: ContentFields): string {
  return sha256([
    row.status,
    row.amount,
    row.currency,
    row.bookingDate,
    row.valueDate,
    row.transactionDate,
    row.counterpartyName,
    row.counterpartyIban,
    row.remittanceInformation,
    row.endToEndId,
    row.bankTransactionCode,
  ]);
}

/** The stored fields of an entry, normalised: trimmed text (blank → null), upper-case currency and IBAN. */
function contentOf(e: Entry, bankTransactionId: string | null): ContentFields {
  const t = e.t;
  return {
    bankTransactionId,
    status: t.status,
    amount: e.amount,
    currency: t.amount.currency.trim().toUpperCase(),
    bookingDate: t.bookingDate,
    valueDate: t.valueDate,
    transactionDate: t.transactionDate,
    counterpartyName: text(t.counterpartyName),
    counterpartyIban: t.counterpartyIban ? t.counterpartyIban.replace(/\s+/g, '').toUpperCase() || null : null,
    remittanceInformation: text(t.remittanceInformation),
    endToEndId: text(t.endToEndId),
    bankTransactionCode: text(t.bankTransactionCode),
  };
}

/**
 * The describer's cache is emptied at this size: remittances that carry invoice numbers never
 * repeat, and a 100,000-row sync should not keep a text of each row until it ends.
 */
const DESCRIBE_CACHE_SIZE = 4_096;

/** Descriptions repeat (the same shops, the same employer): clean each text once per call. */
type Describe = (c: ContentFields) => string | null;
function describer(): Describe {
  const cache = new Map<string, string | null>();
  return (c) => {
    const key = `${c.counterpartyName ?? ''}\u0000${c.remittanceInformation ?? ''}\u0000${c.bankTransactionCode ?? ''}`;
    let d = cache.get(key);
    if (d === undefined) {
      d = cleanDescription(c);
      if (cache.size >= DESCRIBE_CACHE_SIZE) cache.clear();
      cache.set(key, d);
    }
    return d;
  };
}

function toRow(e: Entry, content: ContentFields, contentHash: string, today: string, describe: Describe): TransactionRow {
  // Spelled out rather than spread: this runs for every insert and update, and spreads are slow.
  return {
    bankTransactionId: content.bankTransactionId,
    status: content.status,
    amount: content.amount,
    currency: content.currency,
    bookingDate: content.bookingDate,
    valueDate: content.valueDate,
    transactionDate: content.transactionDate,
    sortDate: dateOf(e.t) ?? today,
    counterpartyName: content.counterpartyName,
    counterpartyIban: content.counterpartyIban,
    remittanceInformation: content.remittanceInformation,
    description: describe(content),
    endToEndId: content.endToEndId,
    bankTransactionCode: content.bankTransactionCode,
    fingerprint: e.fingerprint,
    occurrence: e.occurrence,
    contentHash,
    raw: e.t.raw,
  };
}

/** The canonical fields of an entry (not raw), for "the same entry sent twice" across a page boundary. */
function sameEntry(a: CanonicalTransaction, b: CanonicalTransaction, withId: boolean): boolean {
  const fields = (t: CanonicalTransaction) => [
    withId ? t.bankTransactionId : null,
    t.status,
    normaliseDecimal(t.amount.amount),
    t.amount.currency,
    t.bookingDate,
    t.valueDate,
    t.transactionDate,
    t.counterpartyName,
    t.counterpartyIban,
    t.remittanceInformation,
    t.endToEndId,
    t.bankTransactionCode,
  ];
  return JSON.stringify(fields(a)) === JSON.stringify(fields(b));
}

/** Step 1 and 2: drop duplicates, then fingerprint and number the rest. */
function prepare(pages: CanonicalTransaction[][], trustBankIds: boolean): { entries: Entry[]; received: number; dropped: number } {
  const preparer = new Preparer(trustBankIds);
  const entries: Entry[] = [];
  for (const page of pages) preparer.add(page, entries);
  return { entries, received: preparer.received, dropped: preparer.dropped };
}

/** prepare(), one page at a time: what it drops and how it numbers depends only on the pages before. */
class Preparer {
  readonly #seenIds = { BOOKED: new Set<string>(), PENDING: new Set<string>() };
  readonly #occurrences = { BOOKED: new Map<string, number>(), PENDING: new Map<string, number>() };
  /** Each listing's last entry (a first sync may read several listings side by side). */
  readonly #previous: (CanonicalTransaction | null)[] = [];
  #index = 0;
  received = 0;
  dropped = 0;

  constructor(private readonly trustBankIds: boolean) {}

  add(page: CanonicalTransaction[], entries: Entry[], listing = 0): void {
    const trustBankIds = this.trustBankIds;
    for (let i = 0; i < page.length; i++) {
      const t = page[i];
      this.received++;
      const last = this.#previous[listing] ?? null;
      this.#previous[listing] = t;
      if (t.bankTransactionId != null) {
        const seen = this.#seenIds[t.status];
        if (seen.has(t.bankTransactionId)) {
          this.dropped++;
          continue;
        }
        seen.add(t.bankTransactionId);
      }
      // A page that starts with the previous page's last entry again: the bank's paging overlaps.
      // With untrusted ids the repeated entry may carry a fresh id, so ids are left out of the comparison.
      const idless = t.bankTransactionId == null || !trustBankIds;
      if (i === 0 && idless && last && sameEntry(t, last, trustBankIds)) {
        this.dropped++;
        continue;
      }
      const amount = normaliseDecimal(t.amount.amount);
      const fingerprint = fingerprintOfNormalised(t, amount);
      const occurrence = this.#occurrences[t.status].get(fingerprint) ?? 0;
      this.#occurrences[t.status].set(fingerprint, occurrence + 1);
      entries.push({ index: this.#index++, t, amount, fingerprint, occurrence, id: trustBankIds ? t.bankTransactionId : null });
    }
  }
}

/**
 * reconcile() against a window that stores nothing (a first sync), fed page by page as the bank
 * answers: with no stored row nothing matches, so every entry left after duplicates is an insert,
 * in order, with exactly the values reconcile() gives it. Lets a first sync store page n while page
 * n+1 is being fetched.
 */
export class FirstSyncReconciler {
  readonly #preparer: Preparer;
  readonly #describe = describer();

  constructor(
    trustBankIds: boolean,
    private readonly today: string,
  ) {
    this.#preparer = new Preparer(trustBankIds);
  }

  /**
   * The inserts this page adds. `listing` tells apart listings read side by side (date ranges of
   * one window): a page overlapping its predecessor is one of the same listing. Throws
   * DecimalError when an amount is not a decimal string.
   */
  page(page: CanonicalTransaction[], listing = 0): TransactionRow[] {
    const entries: Entry[] = [];
    this.#preparer.add(page, entries, listing);
    return entries.map((e) => {
      const content = contentOf(e, e.t.bankTransactionId);
      return toRow(e, content, hashContent(content), this.today, this.#describe);
    });
  }

  get stats(): Pick<ReconcileResult['stats'], 'received' | 'duplicatesDropped'> {
    return { received: this.#preparer.received, duplicatesDropped: this.#preparer.dropped };
  }
}

const DAY_MS = 86_400_000;
/** Days since the epoch of a YYYY-MM-DD date (or the date part of an ISO date-time); null when unreadable. */
function dayNumber(date: string | null): number | null {
  if (!date) return null;
  const ms = Date.parse(`${date.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(ms) ? null : Math.round(ms / DAY_MS);
}

const tokens = (...parts: (string | null)[]): Set<string> => new Set(parts.flatMap((p) => (p ?? '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []));

/** |A ∩ B| / |A ∪ B| in thousandths (integer maths). */
function jaccardPermille(a: Set<string>, b: Set<string>): number {
  let shared = 0;
  for (const x of a) if (b.has(x)) shared++;
  const union = a.size + b.size - shared;
  return union === 0 ? 0 : Math.floor((shared * 1000) / union);
}

// Pairing score weights: an equal end-to-end id outweighs everything; then an exact amount, an
// equal name, then overlapping words; each day apart and each percent of amount difference costs a little.
const SCORE = { endToEnd: 1_000_000, exactAmount: 10_000, nameEqual: 5_000, perDay: 100, perPercent: 10 } as const;
const MAX_DIFF_BP = 2_500n; // 25 % of the pending amount
const DAYS_BEFORE = 1; // a booking may carry a date one day before the pending's
const DAYS_AFTER = 14;
const MAX_CANDIDATES = 16; // per booked entry

interface PendingCandidate {
  stored: StoredTransaction;
  amount: ScaledDecimal;
  day: number;
  name: string;
  tokens: Set<string>;
}

/** Step 3c: pair unmatched incoming BOOKED entries with unmatched stored PENDING rows, best score first. */
function pairPendings(pendings: StoredTransaction[], bookeds: Entry[]): { stored: StoredTransaction; entry: Entry }[] {
  if (pendings.length === 0 || bookeds.length === 0) return [];
  // Bucket pendings by currency and sign, sorted by date, so each booked entry looks only at its date range.
  const buckets = new Map<string, PendingCandidate[]>();
  for (const p of pendings) {
    const day = dayNumber(p.transactionDate ?? p.valueDate ?? p.bookingDate);
    if (day == null) continue;
    const amount = parseDecimal(p.amount);
    const key = `${p.currency.toUpperCase()}|${amount.units < 0n}`;
    let bucket = buckets.get(key);
    if (!bucket) buckets.set(key, (bucket = []));
    bucket.push({ stored: p, amount, day, name: collapse(p.counterpartyName), tokens: tokens(p.counterpartyName, p.remittanceInformation) });
  }
  for (const bucket of buckets.values()) bucket.sort((a, b) => a.day - b.day);

  type Pair = { score: number; candidate: PendingCandidate; entry: Entry };
  const byScore = (a: Pair, b: Pair) =>
    b.score - a.score ||
    (a.candidate.stored.id < b.candidate.stored.id ? -1 : a.candidate.stored.id > b.candidate.stored.id ? 1 : 0) ||
    a.entry.index - b.entry.index;
  const pairs: Pair[] = [];
  for (const e of bookeds) {
    const mine: Pair[] = [];
    const day = dayNumber(dateOf(e.t));
    if (day == null) continue;
    const amount = parseDecimal(e.amount);
    const bucket = buckets.get(`${e.t.amount.currency.trim().toUpperCase()}|${amount.units < 0n}`);
    if (!bucket) continue;
    const name = collapse(e.t.counterpartyName);
    let words: Set<string> | null = null; // only for candidates that pass the amount test
    const e2e = e.t.endToEndId?.trim() || null;
    // Pending day p qualifies when p − 1 ≤ day ≤ p + 14, i.e. day − 14 ≤ p ≤ day + 1.
    for (let i = lowerBound(bucket, day - DAYS_AFTER); i < bucket.length && bucket[i].day <= day + DAYS_BEFORE; i++) {
      const c = bucket[i];
      const diffBp = relativeDifferenceBp(amount, c.amount);
      if (diffBp == null || diffBp > MAX_DIFF_BP) continue;
      const exact = diffBp === 0n && compareScaled(amount, c.amount) === 0;
      const sameE2e = e2e != null && e2e === (c.stored.endToEndId?.trim() || null);
      const sameName = name !== '' && name === c.name;
      words ??= tokens(e.t.counterpartyName, e.t.remittanceInformation);
      const overlap = jaccardPermille(words, c.tokens);
      if (!sameE2e && !exact && !sameName && overlap < 300) continue;
      const score =
        (sameE2e ? SCORE.endToEnd : 0) +
        (exact ? SCORE.exactAmount : 0) +
        (sameName ? SCORE.nameEqual : 0) +
        overlap -
        Math.abs(day - c.day) * SCORE.perDay -
        Number(diffBp / 100n) * SCORE.perPercent;
      // Many look-alike pendings in the window (a busy card account): keep only this entry's best
      // few, in order, so the final sort is not over every pending × booked pair.
      const pair = { score, candidate: c, entry: e };
      if (mine.length === MAX_CANDIDATES && byScore(pair, mine[MAX_CANDIDATES - 1]) >= 0) continue;
      let at = mine.length;
      while (at > 0 && byScore(pair, mine[at - 1]) < 0) at--;
      mine.splice(at, 0, pair);
      if (mine.length > MAX_CANDIDATES) mine.pop();
    }
    for (const p of mine) pairs.push(p);
  }
  pairs.sort(byScore);
  const usedStored = new Set<string>();
  const usedEntries = new Set<number>();
  const chosen: { stored: StoredTransaction; entry: Entry }[] = [];
  for (const p of pairs) {
    if (usedStored.has(p.candidate.stored.id) || usedEntries.has(p.entry.index)) continue;
    usedStored.add(p.candidate.stored.id);
    usedEntries.add(p.entry.index);
    chosen.push({ stored: p.candidate.stored, entry: p.entry });
  }
  return chosen;
}

/** |a − b| / |b| in basis points, rounded down; null when b is zero and a is not. */
function relativeDifferenceBp(a: ScaledDecimal, b: ScaledDecimal): bigint | null {
  const scale = Math.max(a.scale, b.scale);
  const x = a.units * 10n ** BigInt(scale - a.scale);
  const y = b.units * 10n ** BigInt(scale - b.scale);
  const diff = x > y ? x - y : y - x;
  if (y === 0n) return diff === 0n ? 0n : null;
  return (diff * 10_000n) / (y < 0n ? -y : y);
}

function compareScaled(a: ScaledDecimal, b: ScaledDecimal): number {
  const scale = Math.max(a.scale, b.scale);
  const x = a.units * 10n ** BigInt(scale - a.scale);
  const y = b.units * 10n ** BigInt(scale - b.scale);
  return x < y ? -1 : x > y ? 1 : 0;
}

function lowerBound(bucket: PendingCandidate[], day: number): number {
  let lo = 0;
  let hi = bucket.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (bucket[mid].day < day) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Decides what one sync changes. Matching, in order, each stored row used at most once:
 * (a) by bank id when ids are trusted; (b) by fingerprint, status and occurrence among stored rows
 * whose bank id is absent or no longer reported; (c) an unmatched booked entry to an unmatched
 * stored pending one (same currency and sign, amount within 25 %, booked −1…+14 days after, and
 * a shared end-to-end id, name, words or exact amount). Unmatched entries are inserts; unmatched
 * stored rows are removals. Throws DecimalError when an amount is not a decimal string.
 */
export function reconcile(input: ReconcileInput): ReconcileResult {
  const { stored, trustBankIds, today } = input;
  const { entries, received, dropped } = prepare(input.pages, trustBankIds);

  const matchOf: ({ stored: StoredTransaction; kind: MatchKind } | undefined)[] = new Array(entries.length);
  const used = new Set<StoredTransaction>();

  // (a) bank id, any status; a stored row of the same status first if the bank id is on two rows.
  if (trustBankIds) {
    const byId = new Map<string, StoredTransaction[]>();
    for (const s of stored) {
      if (s.bankTransactionId == null) continue;
      const list = byId.get(s.bankTransactionId);
      if (list) list.push(s);
      else byId.set(s.bankTransactionId, [s]);
    }
    for (const e of entries) {
      if (e.id == null) continue;
      const list = byId.get(e.id);
      if (!list) continue;
      const s = list.find((x) => !used.has(x) && x.status === e.t.status) ?? list.find((x) => !used.has(x));
      if (!s) continue;
      used.add(s);
      matchOf[e.index] = { stored: s, kind: 'bankId' };
    }
  }

  // (b) fingerprint|status|occurrence, never taking a row another entry still claims by its id.
  const incomingIds = new Set<string>();
  for (const e of entries) if (e.id != null) incomingIds.add(e.id);
  // status → fingerprint → stored rows by occurrence.
  const byKey = { BOOKED: new Map<string, StoredTransaction[]>(), PENDING: new Map<string, StoredTransaction[]>() };
  for (const s of stored) {
    if (used.has(s)) continue;
    if (trustBankIds && s.bankTransactionId != null && incomingIds.has(s.bankTransactionId)) continue;
    const byFingerprint = byKey[s.status];
    let byOccurrence = byFingerprint.get(s.fingerprint);
    if (!byOccurrence) byFingerprint.set(s.fingerprint, (byOccurrence = []));
    byOccurrence[s.occurrence] ??= s;
  }
  for (const e of entries) {
    if (matchOf[e.index]) continue;
    const s = byKey[e.t.status].get(e.fingerprint)?.[e.occurrence];
    if (!s || used.has(s)) continue;
    used.add(s);
    matchOf[e.index] = { stored: s, kind: 'fingerprint' };
  }

  // (c) pending → booked under a new id, or with a changed amount or date.
  const paired = pairPendings(
    stored.filter((s) => s.status === 'PENDING' && !used.has(s)),
    entries.filter((e) => e.t.status === 'BOOKED' && !matchOf[e.index]),
  );
  for (const { stored: s, entry } of paired) {
    used.add(s);
    matchOf[entry.index] = { stored: s, kind: 'pending' };
  }

  const result: ReconcileResult = {
    inserts: [],
    updates: [],
    removals: [],
    stats: { received, duplicatesDropped: dropped, matchedByBankId: 0, matchedByFingerprint: 0, pendingBooked: 0, unchanged: 0 },
  };
  const describe = describer();
  const updatesByStored = new Map<string, ReconcileResult['updates'][number]>();
  for (const e of entries) {
    const match = matchOf[e.index];
    if (!match) {
      const content = contentOf(e, e.t.bankTransactionId);
      result.inserts.push(toRow(e, content, hashContent(content), today, describe));
      continue;
    }
    const s = match.stored;
    if (match.kind === 'bankId') result.stats.matchedByBankId++;
    if (match.kind === 'fingerprint') result.stats.matchedByFingerprint++;
    const becameBooked = s.status === 'PENDING' && e.t.status === 'BOOKED';
    if (becameBooked) result.stats.pendingBooked++;
    // Keep the id the row was stored under when the bank's ids churn; fill it in when there was none.
    // A booking paired with a pending entry takes the booking's id: the pending's is in pendingOrigin.
    const keepStoredId = s.bankTransactionId != null && (!trustBankIds || match.kind === 'fingerprint');
    const bankId = keepStoredId ? s.bankTransactionId : match.kind === 'pending' ? e.t.bankTransactionId : (e.t.bankTransactionId ?? s.bankTransactionId);
    const content = contentOf(e, bankId);
    const contentHash = hashContent(content);
    const idUnchanged = s.bankTransactionId != null || e.t.bankTransactionId == null;
    if (match.kind !== 'pending' && contentHash === s.contentHash && idUnchanged) {
      result.stats.unchanged++;
      continue;
    }
    updatesByStored.set(s.id, {
      id: s.id,
      row: toRow(e, content, contentHash, today, describe),
      pendingOrigin: becameBooked
        ? { bankTransactionId: s.bankTransactionId, amount: normaliseDecimal(s.amount), date: s.transactionDate ?? s.valueDate ?? s.bookingDate }
        : null,
    });
  }
  for (const s of stored) {
    const update = updatesByStored.get(s.id);
    if (update) result.updates.push(update);
    else if (!used.has(s)) result.removals.push(s.id);
  }
  return result;
}
