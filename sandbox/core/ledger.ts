import { addDays } from './clock';
import { bbanFor, makeIban } from './iban';
import { Prng } from './prng';
import { TEST_USERS, type TestUser } from './users';

/** What kind of product an account is; each standard maps it to its own codes. */
export type AccountKind = 'checking' | 'savings' | 'card' | 'business';

export interface LedgerAccount {
  /** The bank's resource id, used in URLs. */
  id: string;
  owner: string;
  ownerName: string;
  kind: AccountKind;
  name: string;
  product: string;
  iban: string;
  bban: string;
  currency: string;
  /** UK only: sort code and account number. */
  sortCode?: string;
  accountNumber?: string;
  maskedPan?: string;
  openingBalanceCents: number;
  /** Lazily generated base history (the heavy account); undefined means `transactions` is complete. */
  lazy?: LazyHistory;
  /** Sum of the lazy history, computed once when a balance is first asked for. */
  lazyBalanceCents?: number;
  /** Newest first. For a lazy account: only the entries added after the seed. */
  transactions: LedgerTransaction[];
}

export type TransactionStatus = 'booked' | 'pending';

export interface LedgerTransaction {
  id: string;
  accountId: string;
  status: TransactionStatus;
  bookingDate: string;
  valueDate: string;
  /** Signed minor units: negative = debit. */
  amountCents: number;
  currency: string;
  counterpartyName?: string;
  counterpartyIban?: string;
  remittance?: string;
  /** ISO 11649 creditor reference (RF…), when the transfer carried a structured reference. */
  structuredReference?: string;
  endToEndId?: string;
  mandateId?: string;
  /** ISO 20022 bank transaction code, Domain-Family-SubFamily. */
  bankTransactionCode: string;
  merchantCategoryCode?: string;
  /** For the heavy account's lazy entries: its index in the generated history. */
  index?: number;
}

/** Formats signed minor units as a decimal string with two decimals ("-12.30"). */
export const formatCents = (cents: number): string => {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
};

export const parseAmount = (value: unknown): number | undefined => {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const s = String(value);
  if (!/^-?\d{1,14}(\.\d{1,2})?$/.test(s)) return undefined;
  const [whole, frac = ''] = s.replace('-', '').split('.');
  const cents = Number(whole) * 100 + Number(frac.padEnd(2, '0'));
  return s.startsWith('-') ? -cents : cents;
};

/** ISO 11649 creditor reference with its check digits. */
export function creditorReference(body: string): string {
  const digits = `${body}RF00`
    .toUpperCase()
    .split('')
    .map((c) => (c >= 'A' && c <= 'Z' ? String(c.charCodeAt(0) - 55) : c))
    .join('');
  let rest = 0;
  for (let i = 0; i < digits.length; i += 7) rest = Number(String(rest) + digits.slice(i, i + 7)) % 97;
  return `RF${String(98 - rest).padStart(2, '0')}${body}`;
}

export interface BankProfile {
  id: string;
  country: string;
  currency: string;
  /** Bank code inside the BBAN (for GB: four letters of the bank + the sort code). */
  bankCode: string;
  /** Localised labels (salary, rent) so the history looks like that country's. */
  locale: 'de' | 'fr' | 'en' | 'nl';
}

const MERCHANTS: Record<BankProfile['locale'], string[]> = {
  de: ['REWE SAGT DANKE 4711', 'EDEKA CENTER', 'ALDI SUED 0815', 'LIDL DIENSTL. 1203', 'DM DROGERIE MARKT', 'ROSSMANN 2291'],
  fr: ['CARREFOUR MARKET 1234 PARIS', 'MONOPRIX PARIS 11', 'LECLERC DRIVE', 'FRANPRIX 8765', 'PICARD SURGELES', 'BIOCOOP BASTILLE'],
  nl: ['DELHAIZE BRUXELLES', 'COLRUYT ANDERLECHT', 'ALDI 0321 GENT', 'CARREFOUR EXPRESS', 'LIDL 1080', 'KRUIDVAT 4432'],
  en: ['TESCO STORES 2201', 'SAINSBURYS S/MKT', 'WAITROSE 0412', 'CO-OP GROUP 3391', 'PRET A MANGER', 'BOOTS 1123'],
};
const CARD_MERCHANTS = [
  'AMAZON EU SARL',
  'NETFLIX.COM',
  'SPOTIFY AB',
  'UBER *TRIP',
  'SHELL 3344',
  'IKEA 0042',
  'DECATHLON 221',
  'APPLE.COM/BILL',
  'BOOKING.COM',
  'SNCF INTERNET',
  'ZALANDO SE',
  'STARBUCKS 1190',
];
const LABELS: Record<BankProfile['locale'], { salary: string; rent: string; landlord: string; employer: string; savings: string; energy: string }> = {
  de: {
    salary: 'GEHALT',
    rent: 'MIETE',
    landlord: 'Hausverwaltung Schmidt GmbH',
    employer: 'Nordwerk Industrie AG',
    savings: 'Sparplan',
    energy: 'Stadtwerke Energie',
  },
  fr: {
    salary: 'SALAIRE',
    rent: 'LOYER',
    landlord: 'SCI Les Tilleuls',
    employer: 'Atelier Lumière SAS',
    savings: 'Virement épargne',
    energy: 'EDF Particuliers',
  },
  nl: {
    salary: 'SALAIRE / LOON',
    rent: 'LOYER / HUUR',
    landlord: 'Immo Brabant SRL',
    employer: 'Brabant Logistics NV',
    savings: 'Épargne',
    energy: 'Engie Electrabel',
  },
  en: {
    salary: 'SALARY',
    rent: 'RENT',
    landlord: 'Harbourside Lettings Ltd',
    employer: 'Thames Analytics Ltd',
    savings: 'Savings pot',
    energy: 'Octopus Energy',
  },
};

/** Two years of history ending on the bank's start day. */
export const HISTORY_DAYS = 730;
export const HEAVY_TRANSACTION_COUNT = 100_000;

export interface LazyHistory {
  count: number;
  firstDay: string;
  lastDay: string;
  days: number;
  seed: number;
  currency: string;
  accountId: string;
  locale: BankProfile['locale'];
}

const lazyBase = new WeakMap<LazyHistory, number>();

/** The generator of the i-th lazy entry: a numeric mix of the account's hash and the index (cheap). */
function lazyRng(h: LazyHistory, index: number): Prng {
  let base = lazyBase.get(h);
  if (base === undefined) {
    base = Prng.from(h.seed, h.accountId).int(0, 0xffffffff);
    lazyBase.set(h, base);
  }
  return new Prng((base ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

/** Signed amount of the i-th lazy entry: the first two draws of lazyTransaction, without building it. */
function lazyAmount(h: LazyHistory, index: number): number {
  const rng = lazyRng(h, index);
  return rng.chance(0.3) ? rng.int(5_000, 900_000) : -rng.int(150, 250_000);
}

const lazyDays = new WeakMap<LazyHistory, string[]>();

/** The day `dayOffset` days before the history's last one, computed once per history and offset (a page asks for a hundred). */
function lazyDate(h: LazyHistory, dayOffset: number): string {
  let days = lazyDays.get(h);
  if (!days) lazyDays.set(h, (days = []));
  return (days[dayOffset] ??= addDays(h.lastDay, -dayOffset));
}

/** The heavy account's i-th transaction (0 = newest), generated on demand from the seed. */
export function lazyTransaction(h: LazyHistory, index: number): LedgerTransaction {
  const rng = lazyRng(h, index);
  // Index 0 is the newest: spread the count evenly over the days, newest day first.
  const dayOffset = Math.floor((index * h.days) / h.count);
  const date = lazyDate(h, dayOffset);
  const credit = rng.chance(0.3);
  const amount = credit ? rng.int(5_000, 900_000) : -rng.int(150, 250_000);
  const merchant = rng.pick(credit ? ['Customer payment', 'Marketplace payout', 'Refund'] : [...MERCHANTS[h.locale], ...CARD_MERCHANTS]);
  return {
    id: `${h.accountId.slice(0, 8)}-${String(index).padStart(7, '0')}`,
    accountId: h.accountId,
    status: 'booked',
    bookingDate: date,
    valueDate: date,
    amountCents: amount,
    currency: h.currency,
    counterpartyName: merchant,
    remittance: credit ? `INV-${rng.digits(6)}` : `${merchant} ${date}`,
    bankTransactionCode: credit ? 'PMNT-RCDT-ESCT' : 'PMNT-CCRD-POSD',
    index,
  };
}

/** Index range [start, end) of the heavy history whose dates fall within [from, to] (inclusive). */
export function lazyIndexRange(h: LazyHistory, from?: string, to?: string): [number, number] {
  const dayIndex = (date: string) => Math.round((Date.parse(`${h.lastDay}T00:00:00Z`) - Date.parse(`${date}T00:00:00Z`)) / 86_400_000);
  // First index whose dayOffset >= d: ceil(d * count / days).
  const firstIndexOfOffset = (d: number) => Math.min(h.count, Math.max(0, Math.ceil((d * h.count) / h.days)));
  const start = to ? firstIndexOfOffset(Math.max(0, dayIndex(to))) : 0;
  const end = from ? firstIndexOfOffset(dayIndex(from) + 1) : h.count;
  return [start, Math.max(start, end)];
}

interface Builder {
  rng: Prng;
  account: LedgerAccount;
  seq: number;
}

function push(
  b: Builder,
  tx: Omit<LedgerTransaction, 'id' | 'accountId' | 'currency' | 'status' | 'valueDate'> & { status?: TransactionStatus; valueDate?: string },
) {
  b.seq += 1;
  b.account.transactions.push({
    id: `${b.account.id.slice(0, 6)}${b.rng.hex(10)}${String(b.seq).padStart(5, '0')}`,
    accountId: b.account.id,
    currency: b.account.currency,
    status: tx.status ?? 'booked',
    valueDate: tx.valueDate ?? tx.bookingDate,
    ...tx,
  });
}

/** The calendar days of the history, oldest first (computed once per ledger). */
function historyDays(endDay: string): string[] {
  const days: string[] = [];
  const d = new Date(`${endDay}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - HISTORY_DAYS);
  for (let i = 0; i <= HISTORY_DAYS; i++) {
    days.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return days;
}

function generateHistory(b: Builder, profile: BankProfile, days: string[], peer?: LedgerAccount) {
  const { rng, account } = b;
  const L = LABELS[profile.locale];
  for (let i = 0; i <= HISTORY_DAYS; i++) {
    const day = days[i];
    const dom = Number(day.slice(8, 10));
    const month = day.slice(0, 7);
    // The last three days hold pending entries, like a real account.
    const pending = i > HISTORY_DAYS - 3;
    const status: TransactionStatus = pending ? 'pending' : 'booked';
    if (account.kind === 'checking') {
      if (dom === 25) {
        push(b, {
          bookingDate: day,
          amountCents: 325_000 + rng.int(0, 2) * 5_000,
          counterpartyName: L.employer,
          counterpartyIban: makeIban(profile.country, bbanFor(profile.country, profile.bankCode, '9000000001')),
          remittance: `${L.salary} ${month}`,
          endToEndId: `SAL-${month}`,
          bankTransactionCode: 'PMNT-RCDT-ESCT',
          status,
        });
      }
      if (dom === 1) {
        const ref = creditorReference(`LOY${month.replace('-', '')}`);
        push(b, {
          bookingDate: day,
          amountCents: -115_000,
          counterpartyName: L.landlord,
          counterpartyIban: makeIban(profile.country, bbanFor(profile.country, profile.bankCode, '9000000002')),
          remittance: `${L.rent} ${month}`,
          structuredReference: ref,
          endToEndId: `RENT-${month}`,
          bankTransactionCode: 'PMNT-ICDT-ESCT',
          status,
        });
        push(b, {
          bookingDate: day,
          amountCents: -rng.int(6_000, 11_000),
          counterpartyName: L.energy,
          remittance: `${L.energy} ${month}`,
          mandateId: `MNDT-${account.id.slice(0, 6)}-01`,
          bankTransactionCode: 'PMNT-IDDT-ESDD',
          status,
        });
      }
      if (dom === 27 && peer) {
        const ref = creditorReference(`SAV${month.replace('-', '')}`);
        push(b, {
          bookingDate: day,
          amountCents: -20_000,
          counterpartyName: account.ownerName,
          counterpartyIban: peer.iban,
          remittance: L.savings,
          structuredReference: ref,
          endToEndId: `SAV-${month}`,
          bankTransactionCode: 'PMNT-ICDT-ESCT',
          status,
        });
      }
      const groceries = rng.chance(3 / 7) ? rng.int(1, 2) : 0;
      for (let g = 0; g < groceries; g++) {
        push(b, {
          bookingDate: day,
          valueDate: i > 0 ? days[i - 1] : day,
          amountCents: -rng.int(850, 14_500),
          counterpartyName: rng.pick(MERCHANTS[profile.locale]),
          remittance: `CARTE ${day.slice(8, 10)}/${day.slice(5, 7)} ${rng.pick(MERCHANTS[profile.locale])}`,
          merchantCategoryCode: '5411',
          bankTransactionCode: 'PMNT-CCRD-POSD',
          status,
        });
      }
      if (i === HISTORY_DAYS) {
        // Always at least one pending card payment today.
        const m = rng.pick(MERCHANTS[profile.locale]);
        push(b, {
          bookingDate: day,
          amountCents: -rng.int(850, 6_500),
          counterpartyName: m,
          remittance: `CARTE ${m}`,
          merchantCategoryCode: '5411',
          bankTransactionCode: 'PMNT-CCRD-POSD',
          status,
        });
      }
      if (rng.chance(0.03)) {
        push(b, {
          bookingDate: day,
          amountCents: -rng.int(2, 20) * 1_000,
          counterpartyName: 'ATM',
          remittance: `ATM WITHDRAWAL ${day}`,
          bankTransactionCode: 'PMNT-CCRD-CWDL',
          status,
        });
      }
    } else if (account.kind === 'savings') {
      if (dom === 27)
        push(b, {
          bookingDate: day,
          amountCents: 20_000,
          counterpartyName: account.ownerName,
          remittance: L.savings,
          structuredReference: creditorReference(`SAV${month.replace('-', '')}`),
          bankTransactionCode: 'PMNT-RCDT-ESCT',
          status,
        });
      if (day.slice(5) === '12-31')
        push(b, {
          bookingDate: day,
          amountCents: rng.int(2_000, 9_000),
          counterpartyName: 'Interest',
          remittance: `INTEREST ${day.slice(0, 4)}`,
          bankTransactionCode: 'ACMT-MCOP-INTR',
          status,
        });
    } else if (account.kind === 'card') {
      if (rng.chance(0.45)) {
        const m = rng.pick(CARD_MERCHANTS);
        push(b, {
          bookingDate: day,
          valueDate: days[Math.max(0, i - rng.int(0, 2))],
          amountCents: -rng.int(399, 18_000),
          counterpartyName: m,
          remittance: m,
          merchantCategoryCode: rng.pick(['5311', '5812', '4121', '5732', '4722']),
          bankTransactionCode: 'PMNT-CCRD-POSD',
          status,
        });
      }
      if (dom === 5)
        push(b, {
          bookingDate: day,
          amountCents: rng.int(20_000, 60_000),
          counterpartyName: account.ownerName,
          remittance: `CARD SETTLEMENT ${month}`,
          bankTransactionCode: 'PMNT-RCDT-ESCT',
          status,
        });
    } else if (account.kind === 'business') {
      if (rng.chance(0.35)) {
        const inv = `${day.slice(0, 4)}-${rng.digits(5)}`;
        push(b, {
          bookingDate: day,
          amountCents: rng.int(50_000, 1_200_000),
          counterpartyName: rng.pick(['Müller & Söhne KG', 'Garage Dupont SARL', 'Van Damme BVBA', 'Bright Ideas Ltd', 'Rossi Costruzioni Srl']),
          remittance: `INVOICE ${inv}`,
          structuredReference: creditorReference(`INV${inv.replace('-', '')}`),
          endToEndId: `E2E-${inv}`,
          bankTransactionCode: 'PMNT-RCDT-ESCT',
          status,
        });
      }
      if (rng.chance(0.25)) {
        push(b, {
          bookingDate: day,
          amountCents: -rng.int(8_000, 400_000),
          counterpartyName: rng.pick(['Office Supplies Direct', 'Cloudhost GmbH', 'Transports Martin', 'Legal Partners LLP']),
          remittance: `PO ${rng.digits(6)}`,
          bankTransactionCode: 'PMNT-ICDT-ESCT',
          status,
        });
      }
      if (dom === 28)
        push(b, {
          bookingDate: day,
          amountCents: -rng.int(600_000, 900_000),
          counterpartyName: 'Payroll',
          remittance: `PAYROLL ${month}`,
          bankTransactionCode: 'PMNT-ICDT-BOOK',
          status,
        });
      if (dom === 10 && Number(month.slice(5)) % 3 === 1)
        push(b, {
          bookingDate: day,
          amountCents: -rng.int(200_000, 800_000),
          counterpartyName: 'Tax Office',
          remittance: `VAT Q ${month}`,
          bankTransactionCode: 'PMNT-ICDT-ESCT',
          status,
        });
    }
  }
  // Newest first.
  account.transactions.reverse();
}

export interface Ledger {
  accounts: LedgerAccount[];
}

const accountName = (kind: AccountKind, locale: BankProfile['locale']): string =>
  ({
    de: { checking: 'Girokonto', savings: 'Tagesgeld', card: 'Kreditkarte', business: 'Geschäftskonto' },
    fr: { checking: 'Compte courant', savings: 'Livret A', card: 'Carte Visa', business: 'Compte professionnel' },
    nl: { checking: 'Compte à vue', savings: "Compte d'épargne", card: 'Carte de crédit', business: 'Compte professionnel' },
    en: { checking: 'Current Account', savings: 'Easy Saver', card: 'Credit Card', business: 'Business Current Account' },
  })[locale][kind];

/** Builds the seeded ledger of one bank: the same seed and start day always give the same data. */
export function buildLedger(profile: BankProfile, seed: number, endDay: string): Ledger {
  const steps = ledgerSteps(profile, seed, endDay);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** The same ledger, one account's history per turn of the event loop, so building it never holds a server for long. */
export async function buildLedgerAsync(profile: BankProfile, seed: number, endDay: string): Promise<Ledger> {
  const steps = ledgerSteps(profile, seed, endDay);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function* ledgerSteps(profile: BankProfile, seed: number, endDay: string): Generator<void, Ledger> {
  const accounts: LedgerAccount[] = [];
  const days = historyDays(endDay);
  let serial = 0;
  const open = (user: TestUser, kind: AccountKind, ownerName: string, name: string): LedgerAccount => {
    serial += 1;
    const rng = Prng.from(seed, `${profile.id}/${user.username}/${serial}`);
    const number = `${String(serial).padStart(2, '0')}${rng.digits(8)}`;
    const bban = bbanFor(profile.country, profile.bankCode, number);
    const account: LedgerAccount = {
      id: rng.uuid(),
      owner: user.username,
      ownerName,
      kind,
      name,
      product: name,
      iban: makeIban(profile.country, bban),
      bban,
      currency: profile.currency,
      openingBalanceCents: kind === 'card' ? 0 : rng.int(50_000, 500_000),
      transactions: [],
    };
    if (profile.country === 'GB') {
      account.sortCode = profile.bankCode.slice(4);
      account.accountNumber = number.slice(-8);
    }
    if (kind === 'card') account.maskedPan = `4970********${rng.digits(4)}`;
    accounts.push(account);
    return account;
  };
  for (const user of TEST_USERS) {
    const rng = Prng.from(seed, `${profile.id}/${user.username}/history`);
    if (user.profile === 'individual') {
      const checking = open(user, 'checking', user.displayName, accountName('checking', profile.locale));
      const savings = open(user, 'savings', user.displayName, accountName('savings', profile.locale));
      const card = open(user, 'card', user.displayName, accountName('card', profile.locale));
      generateHistory({ rng, account: checking, seq: 0 }, profile, days, savings);
      yield;
      generateHistory({ rng, account: savings, seq: 0 }, profile, days);
      yield;
      generateHistory({ rng, account: card, seq: 0 }, profile, days);
      yield;
    } else if (user.profile === 'sme') {
      const personal = open(user, 'checking', user.displayName, accountName('checking', profile.locale));
      generateHistory({ rng, account: personal, seq: 0 }, profile, days);
      yield;
      for (const company of ['Keller Bau GmbH', 'Keller Digital SARL']) {
        const acc = open(user, 'business', company, `${accountName('business', profile.locale)} ${company}`);
        generateHistory({ rng, account: acc, seq: 0 }, profile, days);
        yield;
      }
    } else if (user.profile === 'heavy') {
      const acc = open(user, 'business', user.displayName, accountName('business', profile.locale));
      acc.lazy = {
        count: HEAVY_TRANSACTION_COUNT,
        firstDay: addDays(endDay, -HISTORY_DAYS),
        lastDay: endDay,
        days: HISTORY_DAYS + 1,
        seed,
        currency: profile.currency,
        accountId: acc.id,
        locale: profile.locale,
      };
    }
  }
  return { accounts };
}

export interface TransactionQuery {
  dateFrom?: string;
  dateTo?: string;
  /** Inclusive upper bound unless `dateToExclusive` (STET). */
  dateToExclusive?: boolean;
  status?: 'booked' | 'pending' | 'both';
}

/**
 * A filtered, newest-first view of an account's transactions that can be paged without
 * materialising the heavy account's 100,000 entries.
 */
export class TransactionView {
  private readonly extras: LedgerTransaction[];
  private readonly lazyRange: [number, number];

  constructor(
    private readonly account: LedgerAccount,
    q: TransactionQuery,
  ) {
    const to = q.dateTo && q.dateToExclusive ? addDays(q.dateTo, -1) : q.dateTo;
    const match = (t: LedgerTransaction) =>
      (!q.dateFrom || t.bookingDate >= q.dateFrom) && (!to || t.bookingDate <= to) && (!q.status || q.status === 'both' || t.status === q.status);
    this.extras = account.transactions.filter(match);
    const wantsBooked = !q.status || q.status !== 'pending';
    this.lazyRange = account.lazy && wantsBooked ? lazyIndexRange(account.lazy, q.dateFrom, to) : [0, 0];
  }

  get total(): number {
    return this.extras.length + (this.lazyRange[1] - this.lazyRange[0]);
  }

  slice(offset: number, limit: number): LedgerTransaction[] {
    const out = this.extras.slice(offset, offset + limit);
    let i = Math.max(0, offset - this.extras.length) + this.lazyRange[0];
    while (out.length < limit && i < this.lazyRange[1] && this.account.lazy) {
      out.push(lazyTransaction(this.account.lazy, i));
      i += 1;
    }
    return out;
  }
}

/** Booked and expected balances; the heavy account's lazy history is summed in closed form only once. */
export function balancesOf(account: LedgerAccount): { bookedCents: number; expectedCents: number } {
  let booked = account.openingBalanceCents;
  let pending = 0;
  for (const t of account.transactions) {
    if (t.status === 'booked') booked += t.amountCents;
    else pending += t.amountCents;
  }
  if (account.lazy) {
    account.lazyBalanceCents ??= (() => {
      let sum = 0;
      for (let i = 0; i < account.lazy!.count; i++) sum += lazyAmount(account.lazy!, i);
      return sum;
    })();
    booked += account.lazyBalanceCents;
  }
  return { bookedCents: booked, expectedCents: booked + pending };
}
