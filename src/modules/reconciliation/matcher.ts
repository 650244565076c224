/**
 * The matcher: proposes which expected payments each bank transaction settles, with the rule that
 * decided, a confidence and the fields that agreed. Pure: no I/O, no clock; amounts are integers
 * of the currency's minor unit (bigint), never floats.
 *
 * Rules, strongest first (the first that finds something decides):
 * 1. END_TO_END_ID: a debit carrying the end-to-end id of a payment initiated through the gateway.
 * 2. STRUCTURED_REFERENCE: a valid ISO 11649 reference of an expected payment in the remittance
 *    information or the end-to-end id (check digits make a false hit practically impossible).
 * 3. REFERENCE_TEXT: the invoice's own reference, normalised (case, spaces, separators), found
 *    whole in the remittance information.
 * 4. REFERENCE_FUZZY: a reference cut short by the bank (its first 8+ characters end the text) or
 *    with one character mistyped or two swapped.
 * 5. AMOUNT_IBAN: the amount (within tolerance) from or to the expected counterparty IBAN.
 * 6. AMOUNT_NAME: the amount and a similar counterparty name, within the date window.
 * A reference rule may allocate one transaction to several expected payments (a grouped payment)
 * or part of one (an instalment); the amount rules allocate to one. A transaction of the opposite
 * direction carrying a paid item's structured reference is a REVERSAL and takes the amount back.
 */

/** Matches at or above this confidence are confirmed without review. */
export const AUTO_CONFIRM_CONFIDENCE = 0.95;
/** Days before the due date and after it (plus the item's own tolerance) an amount-only rule looks. */
export const WINDOW_DAYS_BEFORE = 60;
export const WINDOW_DAYS_AFTER = 60;
/** Fewest characters of a reference a truncated text must keep. */
const MIN_TRUNCATED = 8;
/** Shortest invoice reference searched as text (shorter ones hit too much by chance). */
const MIN_TEXT_REFERENCE = 5;
/** Name similarity (Dice on bigrams) an AMOUNT_NAME match needs. */
const NAME_SIMILARITY = 0.75;

export type Direction = 'INCOMING' | 'OUTGOING';
export type MatchRule = 'END_TO_END_ID' | 'STRUCTURED_REFERENCE' | 'REFERENCE_TEXT' | 'REFERENCE_FUZZY' | 'AMOUNT_IBAN' | 'AMOUNT_NAME' | 'REVERSAL' | 'MANUAL';

/** An expected payment as the matcher sees it. */
export interface OpenItem {
  id: string;
  endUserId: string;
  direction: Direction;
  currency: string;
  /** Minor units. */
  amount: bigint;
  /** Still to be paid: amount minus live allocations (minor units, may be ≤ 0). */
  open: bigint;
  /** Allocated by confirmed matches (minor units): what a reversal can take back. */
  paid: bigint;
  toleranceAmount: bigint;
  toleranceDays: number;
  dueDate: string;
  accountId: string | null;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  /** normaliseReference of the invoice's own reference. */
  reference: string | null;
  /** The ISO 11649 reference (also the UK reference). */
  creditorReference: string | null;
}

/** A bank transaction as the matcher sees it. */
export interface TxForMatch {
  id: string;
  accountId: string;
  endUserId: string;
  /** Signed minor units (debit negative). */
  amount: bigint;
  currency: string;
  /** YYYY-MM-DD */
  date: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittance: string | null;
  endToEndId: string | null;
}

/** A payment initiated through the gateway, found by its end-to-end id. */
export interface GatewayPaymentRef {
  id: string;
  endUserId: string;
  endToEndId: string;
  amount: bigint;
  currency: string;
}

export interface Allocation {
  expectedPaymentId: string;
  /** Minor units; negative for a reversal. */
  amount: bigint;
}

export interface Proposal {
  transactionId: string;
  paymentId: string | null;
  allocations: Allocation[];
  rule: MatchRule;
  confidence: number;
  agreeingFields: string[];
}

interface Found {
  item: OpenItem;
  exact: boolean;
  structured: boolean;
}

interface Keyed {
  key: string;
  item: OpenItem;
  structured: boolean;
}

/** Buckets larger than this say nothing (a prefix every invoice shares): they are skipped. */
const MAX_BUCKET = 32;

/** Indexes of the open items, built once per batch. */
export class MatchIndex {
  private readonly exact = new Map<string, Keyed[]>();
  private readonly lengths: number[];
  /** `${length}|${half}|${text}`: a key with one slip still has one half intact. */
  private readonly halves = new Map<string, Keyed[]>();
  /** Prefixes of 8+ characters (shorter than the key): what a bank's truncation leaves. */
  private readonly prefixes = new Map<string, Keyed[]>();
  private readonly byAmount = new Map<string, OpenItem[]>();
  private maxTolerance = 0n;

  constructor(readonly items: OpenItem[]) {
    const push = (m: Map<string, Keyed[]>, k: string, v: Keyed) => {
      const list = m.get(k);
      if (list) list.push(v);
      else m.set(k, [v]);
    };
    const lengths = new Set<number>();
    for (const item of items) {
      for (const [key, structured] of [
        [item.creditorReference, true],
        [item.reference, false],
      ] as const) {
        if (!key || key.length < (structured ? 1 : MIN_TEXT_REFERENCE)) continue;
        const entry = { key, item, structured };
        push(this.exact, key, entry);
        lengths.add(key.length);
        if (key.length >= MIN_TRUNCATED) {
          const h = key.length >> 1;
          push(this.halves, `${key.length}|0|${key.slice(0, h)}`, entry);
          push(this.halves, `${key.length}|1|${key.slice(h)}`, entry);
          for (let k = MIN_TRUNCATED; k < key.length; k++) push(this.prefixes, key.slice(0, k), entry);
        }
      }
      const k = `${item.direction}|${item.currency}`;
      let list = this.byAmount.get(k);
      if (!list) this.byAmount.set(k, (list = []));
      list.push(item);
      if (item.toleranceAmount > this.maxTolerance) this.maxTolerance = item.toleranceAmount;
    }
    this.lengths = [...lengths].sort((x, y) => y - x);
    for (const list of this.byAmount.values()) list.sort((a, b) => (a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : 0));
  }

  /**
   * References found in a text: whole (exact) first; only when none is, references cut short at
   * the end of a field or with one slip — and only where exactly one eligible item fits.
   */
  findReferences(text: string, eligible: (item: OpenItem) => boolean): Found[] {
    const found = new Map<string, Found>();
    for (let i = 0; i < text.length; i++) {
      for (const L of this.lengths) {
        if (i + L > text.length) continue;
        const hits = this.exact.get(text.slice(i, i + L));
        if (!hits) continue;
        for (const c of hits) {
          if (!eligible(c.item) || !(c.structured || bounded(text, i, L))) continue;
          const had = found.get(c.item.id);
          if (!had || (c.structured && !had.structured)) found.set(c.item.id, { item: c.item, exact: true, structured: c.structured });
        }
      }
    }
    if (found.size > 0) return [...found.values()];
    for (let i = 0; i < text.length; i++) {
      const candidates = new Map<string, OpenItem>();
      const consider = (list: Keyed[] | undefined, ok: (c: Keyed) => boolean) => {
        if (!list || list.length > MAX_BUCKET) return;
        for (const c of list) if (eligible(c.item) && ok(c)) candidates.set(c.item.id, c.item);
      };
      for (const L of this.lengths) {
        if (L < MIN_TRUNCATED || i + L > text.length) continue;
        const w = text.slice(i, i + L);
        if (w.includes('|') || !bounded(text, i, L)) continue;
        const h = L >> 1;
        const slip = (c: Keyed) => oneSlip(w, c.key);
        consider(this.halves.get(`${L}|0|${w.slice(0, h)}`), slip);
        consider(this.halves.get(`${L}|1|${w.slice(h)}`), slip);
      }
      let end = text.indexOf('|', i);
      if (end < 0) end = text.length;
      if (end - i >= MIN_TRUNCATED && (i === 0 || !isDigit(text[i - 1]) || !isDigit(text[i]))) consider(this.prefixes.get(text.slice(i, end)), () => true);
      if (candidates.size === 1) {
        const item = [...candidates.values()][0]!;
        if (!found.has(item.id)) found.set(item.id, { item, exact: false, structured: false });
      }
    }
    return [...found.values()];
  }

  /** Items of one direction and currency whose amount is within `tx ± maxTolerance`. */
  byAmountNear(direction: Direction, currency: string, amount: bigint): OpenItem[] {
    const list = this.byAmount.get(`${direction}|${currency}`);
    if (!list) return [];
    const lo = amount - this.maxTolerance;
    const hi = amount + this.maxTolerance;
    let a = 0;
    let b = list.length;
    while (a < b) {
      const m = (a + b) >> 1;
      if (list[m]!.amount < lo) a = m + 1;
      else b = m;
    }
    const out: OpenItem[] = [];
    for (let i = a; i < list.length && list[i]!.amount <= hi; i++) out.push(list[i]!);
    return out;
  }
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Whether a match of a reference at `start` is not the middle of a longer number or word. */
function bounded(text: string, start: number, length: number): boolean {
  const before = text[start - 1];
  const after = text[start + length];
  const first = text[start]!;
  const last = text[start + length - 1]!;
  return !(isDigit(before) && isDigit(first)) && !(isDigit(after) && isDigit(last));
}

/** One character different, or two adjacent ones swapped. */
function oneSlip(a: string, b: string): boolean {
  let diffs = 0;
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (++diffs > 2) return false;
      if (first < 0) first = i;
    }
  }
  if (diffs === 1) return a.length >= MIN_TRUNCATED;
  return diffs === 2 && a[first] === b[first + 1] && a[first + 1] === b[first] && a.length >= MIN_TRUNCATED;
}

const within = (a: bigint, b: bigint, tolerance: bigint) => (a > b ? a - b : b - a) <= tolerance;

const days = new Map<string, number>();

/** Days since the epoch of a YYYY-MM-DD date (memoised: the same few hundred dates recur). */
function dayNumber(date: string): number {
  let d = days.get(date);
  if (d === undefined) {
    d = Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000);
    if (days.size < 100_000) days.set(date, d);
  }
  return d;
}

function inWindow(item: OpenItem, date: string): boolean {
  const d = dayNumber(date) - dayNumber(item.dueDate);
  return d >= -WINDOW_DAYS_BEFORE && d <= WINDOW_DAYS_AFTER + item.toleranceDays;
}

const LEGAL_FORMS = new Set([
  'GMBH',
  'AG',
  'SA',
  'SAS',
  'SARL',
  'SRL',
  'SPA',
  'BV',
  'NV',
  'LTD',
  'LIMITED',
  'PLC',
  'LLC',
  'INC',
  'EURL',
  'KG',
  'OHG',
  'UG',
  'THE',
  'CO',
  'COMPANY',
]);

/** A name's comparable form: capitals, no accents, no punctuation or legal form, words sorted. */
export function normaliseName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toUpperCase()
    .split(/[^0-9A-Z]+/)
    .filter((w) => w && !LEGAL_FORMS.has(w))
    .sort()
    .join(' ');
}

/** Dice coefficient on character bigrams of the normalised names (0 … 1). */
export function nameSimilarity(a: string, b: string): number {
  const x = normaliseName(a);
  const y = normaliseName(b);
  if (!x || !y) return 0;
  if (x === y) return 1;
  const grams = (s: string) => {
    const m = new Map<string, number>();
    for (let i = 0; i < s.length - 1; i++) m.set(s.slice(i, i + 2), (m.get(s.slice(i, i + 2)) ?? 0) + 1);
    return m;
  };
  const gx = grams(x);
  const gy = grams(y);
  let common = 0;
  for (const [g, n] of gx) common += Math.min(n, gy.get(g) ?? 0);
  return (2 * common) / (x.length - 1 + (y.length - 1));
}

/**
 * Matches a batch of transactions against the open items, in the given order. `items` is changed
 * in place (each allocation lowers `open`), so a later transaction of the batch sees what an
 * earlier one took and no amount is counted twice.
 */
export function matchTransactions(txs: TxForMatch[], index: MatchIndex, payments: GatewayPaymentRef[] = []): Proposal[] {
  const byE2e = new Map(payments.map((p) => [`${p.endUserId}|${p.endToEndId}`, p]));
  const out: Proposal[] = [];
  for (const tx of txs) {
    const p = matchOne(tx, index, byE2e);
    if (p) out.push(p);
  }
  return out;
}

function matchOne(tx: TxForMatch, index: MatchIndex, byE2e: Map<string, GatewayPaymentRef>): Proposal | null {
  if (tx.amount === 0n) return null;
  const direction: Direction = tx.amount > 0n ? 'INCOMING' : 'OUTGOING';
  const magnitude = tx.amount > 0n ? tx.amount : -tx.amount;

  if (tx.endToEndId && direction === 'OUTGOING') {
    const p = byE2e.get(`${tx.endUserId}|${tx.endToEndId}`);
    if (p && p.currency === tx.currency && p.amount === magnitude) {
      return {
        transactionId: tx.id,
        paymentId: p.id,
        allocations: [],
        rule: 'END_TO_END_ID',
        confidence: 1,
        agreeingFields: ['endToEndId', 'amount', 'currency'],
      };
    }
  }

  const text = normaliseText(tx);
  const eligible = (i: OpenItem) => i.endUserId === tx.endUserId && i.currency === tx.currency && (i.accountId === null || i.accountId === tx.accountId);
  const found = text ? index.findReferences(text, eligible) : [];

  // A reversal: money going back the other way under a paid item's structured reference.
  const reversed = found.filter((f) => f.structured && f.exact && f.item.direction !== direction && f.item.paid > 0n);
  if (reversed.length === 1) {
    const item = reversed[0]!.item;
    const amount = magnitude < item.paid ? magnitude : item.paid;
    item.paid -= amount;
    item.open += amount;
    return {
      transactionId: tx.id,
      paymentId: null,
      allocations: [{ expectedPaymentId: item.id, amount: -amount }],
      rule: 'REVERSAL',
      confidence: 0.97,
      agreeingFields: ['creditorReference', 'currency'],
    };
  }

  const hits = found.filter((f) => f.item.direction === direction);
  if (hits.length > 0) return byReference(tx, magnitude, hits);

  const near = index
    .byAmountNear(direction, tx.currency, magnitude)
    .filter((i) => i.open > 0n && within(i.open, magnitude, i.toleranceAmount) && eligible(i) && inWindow(i, tx.date));
  if (near.length === 0) return null;

  if (tx.counterpartyIban) {
    const iban = tx.counterpartyIban.replace(/\s+/g, '').toUpperCase();
    const same = near.filter((i) => i.counterpartyIban === iban);
    if (same.length > 0) {
      const item = nearestDue(same, tx.date);
      return allocateWhole(tx, item, magnitude, 'AMOUNT_IBAN', same.length === 1 ? 0.9 : 0.7, ['amount', 'counterpartyIban', 'date']);
    }
  }
  if (tx.counterpartyName) {
    let best: OpenItem | null = null;
    let bestScore = 0;
    let ties = 0;
    for (const i of near) {
      if (!i.counterpartyName) continue;
      const s = nameSimilarity(i.counterpartyName, tx.counterpartyName);
      if (s < NAME_SIMILARITY) continue;
      if (s > bestScore) [best, bestScore, ties] = [i, s, 1];
      else if (s === bestScore) ties++;
    }
    if (best) return allocateWhole(tx, best, magnitude, 'AMOUNT_NAME', ties === 1 ? 0.75 : 0.6, ['amount', 'counterpartyName', 'date']);
  }
  return null;
}

/** The text references are searched in: remittance information and end-to-end id, normalised. */
function normaliseText(tx: TxForMatch): string {
  const parts = [tx.remittance, tx.endToEndId && tx.endToEndId !== 'NOTPROVIDED' ? tx.endToEndId : null].filter((s): s is string => !!s);
  // Kept apart by a character no reference holds, so a reference never spans two fields.
  return parts
    .map((p) =>
      p
        .normalize('NFKD')
        .replace(/[\u0300-\u036f]/g, '')
        .toUpperCase()
        .replace(/[^0-9A-Z]/g, ''),
    )
    .join('|');
}

function nearestDue(items: OpenItem[], date: string): OpenItem {
  const d = dayNumber(date);
  return items.reduce((a, b) => (Math.abs(dayNumber(b.dueDate) - d) < Math.abs(dayNumber(a.dueDate) - d) ? b : a));
}

function allocateWhole(tx: TxForMatch, item: OpenItem, magnitude: bigint, rule: MatchRule, confidence: number, fields: string[]): Proposal {
  item.open -= magnitude;
  return { transactionId: tx.id, paymentId: null, allocations: [{ expectedPaymentId: item.id, amount: magnitude }], rule, confidence, agreeingFields: fields };
}

/** One or several items named in the text: allocate the transaction across them. */
function byReference(tx: TxForMatch, magnitude: bigint, hits: Found[]): Proposal {
  hits.sort((a, b) => (a.item.dueDate < b.item.dueDate ? -1 : a.item.dueDate > b.item.dueDate ? 1 : a.item.id < b.item.id ? -1 : 1));
  const structured = hits.every((h) => h.structured && h.exact);
  const exact = hits.every((h) => h.exact);
  const rule: MatchRule = structured ? 'STRUCTURED_REFERENCE' : exact ? 'REFERENCE_TEXT' : 'REFERENCE_FUZZY';
  const fields = [structured ? 'creditorReference' : 'reference', 'currency'];
  const wanted = hits.reduce((s, h) => s + (h.item.open > 0n ? h.item.open : 0n), 0n);
  const tolerance = hits.reduce((s, h) => s + h.item.toleranceAmount, 0n);
  const allocations: Allocation[] = [];
  let left = magnitude;
  let confidence: number;
  if (wanted > 0n && within(wanted, magnitude, tolerance)) {
    // Pays what is open (fees within tolerance): each item gets its open amount, the last the rest.
    hits.forEach((h, n) => {
      const share = n === hits.length - 1 ? left : h.item.open > 0n ? h.item.open : 0n;
      if (share !== 0n) allocations.push({ expectedPaymentId: h.item.id, amount: share });
      left -= share;
    });
    fields.push('amount');
    confidence = structured ? 0.99 : exact ? 0.97 : 0.85;
  } else if (magnitude < wanted) {
    // An instalment: the earliest due items first.
    for (const h of hits) {
      if (left === 0n || h.item.open <= 0n) continue;
      const share = left < h.item.open ? left : h.item.open;
      allocations.push({ expectedPaymentId: h.item.id, amount: share });
      left -= share;
    }
    confidence = structured ? 0.96 : exact ? 0.9 : 0.7;
  } else {
    // More than is open (an overpayment, or a payment of something already paid): all to the items named.
    hits.forEach((h, n) => {
      const share = n === hits.length - 1 ? left : h.item.open > 0n ? h.item.open : 0n;
      if (share !== 0n) allocations.push({ expectedPaymentId: h.item.id, amount: share });
      left -= share;
    });
    confidence = structured ? 0.9 : exact ? 0.85 : 0.65;
  }
  if (tx.counterpartyIban && hits.some((h) => h.item.counterpartyIban === tx.counterpartyIban!.replace(/\s+/g, '').toUpperCase())) {
    fields.push('counterpartyIban');
    if (rule === 'REFERENCE_FUZZY') confidence = Math.min(0.9, confidence + 0.05);
  }
  for (const a of allocations) hits.find((h) => h.item.id === a.expectedPaymentId)!.item.open -= a.amount;
  return { transactionId: tx.id, paymentId: null, allocations, rule, confidence, agreeingFields: fields };
}
