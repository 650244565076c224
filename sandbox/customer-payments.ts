/**
 * The sandbox playing the other side of reconciliation: customers (or the business itself) paying
 * a set of expected payments the way real people do — exact references, truncated and mistyped
 * ones, none at all, split and grouped payments, bank fees deducted, the same amount from two
 * payers, late payments, some never paid — plus unrelated transactions. Returns the bank entries
 * to book and the truth (which entry pays which expected payment), so tests and the benchmark can
 * score a matcher. Deterministic for a seed. Amounts are integer cents, never floats.
 */
import { composeIBAN } from 'ibantools';
import { Prng } from './core/prng';

/** What the sandbox is told about an expected payment (as a developer would export it). */
export interface ExpectedForSandbox {
  id: string;
  direction: 'INCOMING' | 'OUTGOING';
  /** Positive decimal string, two decimals at most. */
  amount: string;
  dueDate: string;
  /** The RF creditor reference printed on the invoice, when there is one. */
  creditorReference: string | null;
  invoiceReference: string | null;
  counterpartyName: string | null;
  counterpartyIban: string | null;
}

export const NOISE_KINDS = [
  'EXACT_REFERENCE',
  'INVOICE_REFERENCE',
  'TRUNCATED_REFERENCE',
  'MISTYPED_REFERENCE',
  'NO_REFERENCE',
  'SPLIT',
  'GROUPED',
  'FEES_DEDUCTED',
  'SAME_AMOUNT_TWO_PAYERS',
  'LATE',
  'UNPAID',
] as const;
export type NoiseKind = (typeof NOISE_KINDS)[number];

/** A default mix, in weights: most payments carry their reference, a fifth are messy. */
export const DEFAULT_MIX: Record<NoiseKind, number> = {
  EXACT_REFERENCE: 30,
  INVOICE_REFERENCE: 12,
  TRUNCATED_REFERENCE: 6,
  MISTYPED_REFERENCE: 6,
  NO_REFERENCE: 8,
  SPLIT: 6,
  GROUPED: 6,
  FEES_DEDUCTED: 8,
  SAME_AMOUNT_TWO_PAYERS: 6,
  LATE: 6,
  UNPAID: 6,
};

export interface CustomerPaymentOptions {
  seed: number;
  /** The bank's today: no entry is booked after it. */
  today: string;
  /** No entry is booked before this day (so an incremental sync still reads them). */
  bookFrom?: string;
  mix?: Partial<Record<NoiseKind, number>>;
  /** Unrelated entries to add, as a share of the expected payments (default 0.5). */
  distractorRatio?: number;
}

export interface BookedEntry {
  id: string;
  /** Signed cents as a decimal string ("-12.30"). */
  amount: string;
  bookingDate: string;
  counterpartyName: string | null;
  counterpartyIban: string | null;
  remittance: string | null;
}

/** One entry and what it truly pays (empty: nothing expected). */
export interface TruthEntry {
  transactionId: string;
  expectedPaymentIds: string[];
  kind: NoiseKind | 'UNRELATED';
}

export interface CustomerPaymentsPlan {
  entries: BookedEntry[];
  truth: TruthEntry[];
  /** Expected payments deliberately left unpaid. */
  unpaid: string[];
}

/** The sandbox's seeded PRNG as a plain function. */
export function prng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

const toCents = (s: string): number => {
  const [i, f = ''] = s.split('.');
  return Number(i) * 100 + Number((f + '00').slice(0, 2));
};
const fmt = (c: number): string => `${c < 0 ? '-' : ''}${Math.floor(Math.abs(c) / 100)}.${String(Math.abs(c) % 100).padStart(2, '0')}`;
const addDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

const FIRST = [
  'Martin',
  'Bernard',
  'Dubois',
  'Schmidt',
  'Müller',
  'Rossi',
  'García',
  'Jansen',
  'Novak',
  'Smith',
  'Lefèvre',
  'Weber',
  'Moreau',
  'Fischer',
  'Costa',
];
const SECOND = ['Consulting', 'Bakery', 'Logistics', 'Studio', 'Garage', 'Pharmacy', 'Design', 'Builders', 'Foods', 'Optics', 'Travel', 'Print'];
const FORMS = ['SARL', 'GmbH', 'SAS', 'Ltd', 'BV', 'SRL', ''];

/** A plausible company name. */
export function randomName(rnd: () => number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
  return `${pick(FIRST)} ${pick(SECOND)} ${pick(FORMS)}`.trim();
}

/** A valid German or Dutch IBAN (check digits by ibantools). */
export function randomIban(rnd: () => number): string {
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');
  if (rnd() < 0.5) return composeIBAN({ countryCode: 'DE', bban: digits(18) })!;
  return composeIBAN({ countryCode: 'NL', bban: `ABNA${digits(10)}` })!;
}

/** The whole plan: which entries to book for these expected payments, and the truth. */
export function planCustomerPayments(expected: ExpectedForSandbox[], options: CustomerPaymentOptions): CustomerPaymentsPlan {
  const rnd = prng(options.seed);
  const mix = { ...DEFAULT_MIX, ...options.mix };
  const weights = NOISE_KINDS.map((k) => mix[k] ?? 0);
  const total = weights.reduce((s, w) => s + w, 0);
  const kindOf = (): NoiseKind => {
    let x = rnd() * total;
    for (let i = 0; i < NOISE_KINDS.length; i++) {
      x -= weights[i]!;
      if (x < 0) return NOISE_KINDS[i]!;
    }
    return 'EXACT_REFERENCE';
  };
  const entries: BookedEntry[] = [];
  const truth: TruthEntry[] = [];
  const unpaid: string[] = [];
  let n = 0;
  const clamp = (d: string) => {
    let out = d > options.today ? options.today : d;
    if (options.bookFrom && out < options.bookFrom) out = options.bookFrom;
    return out;
  };
  const book = (
    ep: ExpectedForSandbox | null,
    cents: number,
    remittance: string | null,
    kind: TruthEntry['kind'],
    ids: string[],
    date: string,
    payer?: { name: string | null; iban: string | null },
  ) => {
    const id = `CP-${options.seed}-${++n}`;
    const sign = ep && ep.direction === 'OUTGOING' ? -1 : 1;
    const name = payer ? payer.name : (ep?.counterpartyName ?? null);
    // What a bank carries: 70 characters of name, 140 of remittance information.
    entries.push({
      id,
      amount: fmt(sign * cents),
      bookingDate: clamp(date),
      counterpartyName: name && name.slice(0, 70),
      counterpartyIban: payer ? payer.iban : (ep?.counterpartyIban ?? null),
      remittance: remittance && remittance.slice(0, 140),
    });
    truth.push({ transactionId: id, expectedPaymentIds: ids, kind });
  };
  const ref = (ep: ExpectedForSandbox) => ep.creditorReference ?? ep.invoiceReference ?? '';
  const spaced = (r: string) => (rnd() < 0.5 ? r.replace(/(.{4})/g, '$1 ').trim() : r);
  const onTime = (ep: ExpectedForSandbox) => addDays(ep.dueDate, -Math.floor(rnd() * 10));
  const queue = [...expected];
  while (queue.length > 0) {
    const ep = queue.shift()!;
    const cents = toCents(ep.amount);
    let kind = kindOf();
    // A reference-based kind needs a reference; a grouped payment needs a partner of the same payer and direction.
    if (
      !ref(ep) &&
      ['EXACT_REFERENCE', 'INVOICE_REFERENCE', 'TRUNCATED_REFERENCE', 'MISTYPED_REFERENCE', 'SPLIT', 'GROUPED', 'FEES_DEDUCTED', 'LATE'].includes(kind)
    )
      kind = 'NO_REFERENCE';
    if (kind === 'INVOICE_REFERENCE' && !ep.invoiceReference) kind = 'EXACT_REFERENCE';
    if (kind === 'TRUNCATED_REFERENCE' && ref(ep).length < 12) kind = 'EXACT_REFERENCE';
    switch (kind) {
      case 'EXACT_REFERENCE':
        book(ep, cents, `${rnd() < 0.5 ? 'Invoice ' : ''}${spaced(ref(ep))}`, kind, [ep.id], onTime(ep));
        break;
      case 'INVOICE_REFERENCE': {
        const r = ep.invoiceReference!;
        const variant = rnd() < 0.33 ? r.toLowerCase() : rnd() < 0.5 ? r.replace(/[-/]/g, ' ') : r.replace(/[-/ ]/g, '');
        book(ep, cents, `Payment ${variant} thank you`, kind, [ep.id], onTime(ep));
        break;
      }
      case 'TRUNCATED_REFERENCE': {
        const r = ref(ep);
        const keep = Math.max(9, r.length - 2 - Math.floor(rnd() * 4));
        book(ep, cents, `PAYMENT FOR ${r.slice(0, keep)}`, kind, [ep.id], onTime(ep));
        break;
      }
      case 'MISTYPED_REFERENCE': {
        const r = ref(ep);
        const at = 4 + Math.floor(rnd() * (r.length - 5));
        const typo =
          rnd() < 0.5 ? `${r.slice(0, at)}${r[at + 1]}${r[at]}${r.slice(at + 2)}` : `${r.slice(0, at)}${r[at] === '7' ? '1' : '7'}${r.slice(at + 1)}`;
        book(ep, cents, typo, kind, [ep.id], onTime(ep));
        break;
      }
      case 'NO_REFERENCE':
        book(ep, cents, rnd() < 0.5 ? null : 'Thanks', kind, [ep.id], onTime(ep));
        break;
      case 'SPLIT': {
        const first = Math.max(1, Math.round(cents * (0.3 + rnd() * 0.4)));
        book(ep, first, `${spaced(ref(ep))} part 1`, kind, [ep.id], onTime(ep));
        book(ep, cents - first, `${spaced(ref(ep))} part 2`, kind, [ep.id], addDays(onTime(ep), 14));
        break;
      }
      case 'GROUPED': {
        const j = queue.findIndex((o) => o.direction === ep.direction && ref(o));
        if (j < 0) {
          book(ep, cents, spaced(ref(ep)), 'EXACT_REFERENCE', [ep.id], onTime(ep));
          break;
        }
        const other = queue.splice(j, 1)[0]!;
        book(ep, cents + toCents(other.amount), `${ref(ep)} ${ref(other)}`, kind, [ep.id, other.id], onTime(ep));
        break;
      }
      case 'FEES_DEDUCTED': {
        const fee = 50 + Math.floor(rnd() * 150);
        book(ep, Math.max(1, cents - fee), spaced(ref(ep)), kind, [ep.id], onTime(ep));
        break;
      }
      case 'SAME_AMOUNT_TWO_PAYERS': {
        // The real payer without a reference, and a stranger paying the same amount (nothing expected from them).
        book(ep, cents, null, kind, [ep.id], onTime(ep));
        book(ep, cents, 'Order 55812', kind, [], onTime(ep), { name: randomName(rnd), iban: randomIban(rnd) });
        truth[truth.length - 1]!.kind = 'SAME_AMOUNT_TWO_PAYERS';
        break;
      }
      case 'LATE':
        book(ep, cents, spaced(ref(ep)), kind, [ep.id], addDays(ep.dueDate, 15 + Math.floor(rnd() * 30)));
        break;
      case 'UNPAID':
        unpaid.push(ep.id);
        break;
    }
  }
  const distractors = Math.round(expected.length * (options.distractorRatio ?? 0.5));
  for (let i = 0; i < distractors; i++) {
    const incoming = rnd() < 0.5;
    const cents = 100 + Math.floor(rnd() * 500_000);
    entries.push({
      id: `CP-${options.seed}-${++n}`,
      amount: fmt(incoming ? cents : -cents),
      bookingDate: clamp(addDays(options.today, -Math.floor(rnd() * 60))),
      counterpartyName: randomName(rnd),
      counterpartyIban: randomIban(rnd),
      remittance: rnd() < 0.5 ? `Ref ${Math.floor(rnd() * 1e9)}` : null,
    });
    truth.push({ transactionId: `CP-${options.seed}-${n}`, expectedPaymentIds: [], kind: 'UNRELATED' });
  }
  return { entries, truth, unpaid };
}

/** The score of a matcher's answer against the truth: pairs (transaction, expected payment). */
export interface Score {
  autoConfirmed: number;
  autoCorrect: number;
  /** autoCorrect / autoConfirmed (1 when nothing was confirmed). */
  precision: number;
  truePairs: number;
  /** True pairs found confirmed or suggested. */
  found: number;
  recall: number;
  byKind: Record<string, { truePairs: number; found: number; autoConfirmed: number; autoCorrect: number }>;
}

/** Scores matches `{ transactionId, expectedPaymentId, confirmed }` (bank entry ids) against the truth. */
export function score(truth: TruthEntry[], matches: { transactionId: string; expectedPaymentId: string; confirmed: boolean }[]): Score {
  const kindOf = new Map(truth.map((t) => [t.transactionId, t.kind]));
  const trueSet = new Set(truth.flatMap((t) => t.expectedPaymentIds.map((e) => `${t.transactionId}|${e}`)));
  const byKind: Score['byKind'] = {};
  const k = (kind: string) => (byKind[kind] ??= { truePairs: 0, found: 0, autoConfirmed: 0, autoCorrect: 0 });
  for (const t of truth) for (const _ of t.expectedPaymentIds) k(t.kind).truePairs++;
  const seen = new Set<string>();
  let autoConfirmed = 0;
  let autoCorrect = 0;
  let found = 0;
  for (const m of matches) {
    const pair = `${m.transactionId}|${m.expectedPaymentId}`;
    if (seen.has(pair)) continue;
    seen.add(pair);
    const kind = kindOf.get(m.transactionId) ?? 'UNRELATED';
    const right = trueSet.has(pair);
    if (m.confirmed) {
      autoConfirmed++;
      k(kind).autoConfirmed++;
      if (right) {
        autoCorrect++;
        k(kind).autoCorrect++;
      }
    }
    if (right) {
      found++;
      k(kind).found++;
    }
  }
  return {
    autoConfirmed,
    autoCorrect,
    precision: autoConfirmed === 0 ? 1 : autoCorrect / autoConfirmed,
    truePairs: trueSet.size,
    found,
    recall: trueSet.size === 0 ? 1 : found / trueSet.size,
    byKind,
  };
}
