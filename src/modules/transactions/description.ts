/**
 * A human description of a transaction from what banks put in names and remittance lines:
 * SEPA field tags, creditor references, mandate and card-terminal numbers removed, shouting
 * turned into Title Case. Pure and deterministic; the bank's text stays untouched beside it.
 */

/** The parts of a transaction a description is made from. */
export interface DescriptionSource {
  counterpartyName: string | null;
  remittanceInformation: string | null;
  bankTransactionCode: string | null;
}

/**
 * The merchant or counterparty name when the bank gives one, else the cleaned remittance line,
 * else a generic label from the bank transaction code; null when nothing readable is left
 * (never an empty string).
 */
export function cleanDescription(t: DescriptionSource): string | null {
  return clean(t.counterpartyName) ?? clean(t.remittanceInformation) ?? labelOfCode(t.bankTransactionCode);
}

// German SEPA remittance fields (DFÜ-Abkommen): "EREF+… MREF+… CRED+… SVWZ+text". Only the
// SVWZ+ (Verwendungszweck) part is meant for people.
// Lines are often joined without a space ("…NOTPROVIDEDMREF+…"), so "TAG+" is found anywhere;
// the rarer "TAG:" spelling only at a word boundary.
const TAGS = 'EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|COAM|OAMT|SQTP|PURP';
const SEPA_TAG = new RegExp(`(${TAGS})\\+|\\b(${TAGS}):\\s?`, 'g');

// Channel prefixes that say how, not who (FR: PRLV SEPA, VIR SEPA RECU, CB, CARTE X1234; EN: CARD PAYMENT TO…).
const CHANNEL_PREFIX = new RegExp(
  [
    String.raw`^(?:PRLV|VIR(?:EMENT)?)(?:\s+SEPA)?(?:\s+(?:RECU|EMIS|INST(?:ANTANE)?))?(?:\s*/?\s*DE\b)?\s+`,
    String.raw`^(?:CB|CARTE(?:\s+X?\d{4})?|PAIEMENT\s+(?:PAR\s+)?CB)\s+`,
    String.raw`^(?:CARD\s+PAYMENT|CONTACTLESS\s+PAYMENT|DIRECT\s+DEBIT|STANDING\s+ORDER|FASTER\s+PAYMENT)(?:\s+(?:TO|FROM))?\s+`,
  ].join('|'),
  'i',
);

const SHORT_WORDS = new Set(['THE', 'AND', 'FOR', 'OF', 'UND', 'DER', 'DIE', 'DAS', 'VON', 'ET', 'LES', 'DES', 'DU', 'DE', 'LA', 'LE']);
const SPELLINGS = new Map([
  ['GMBH', 'GmbH'],
  ['KGAA', 'KGaA'],
]);

function clean(text: string | null): string | null {
  if (text == null) return null;
  let s = text.replace(/\s+/g, ' ').trim();
  s = keepSepaPurpose(s);
  s = s.replace(CHANNEL_PREFIX, '');
  s = s
    // RF creditor references (ISO 11649): RF + 2 check digits + up to 21 characters.
    .replace(/\bRF\d{2}[A-Z0-9]{1,21}\b/gi, ' ')
    // Mandate, reference and card numbers: any run of 8 or more digits.
    .replace(/\d{8,}/g, ' ')
    // Card terminal location "//BERLIN/DE" after the merchant.
    .replace(/\/\/.*$/, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  // Terminals shout; people typing "Rechnung 4711" do not, and their numbers mean something.
  if (!/\p{Ll}/u.test(s)) s = dropTerminalSuffix(s);
  s = s.replace(/^[\s/,.;:-]+|[\s/,;:-]+$/g, '');
  if (!/[\p{L}\p{N}]/u.test(s)) return null;
  return titleCase(s);
}

function keepSepaPurpose(s: string): string {
  const tags = [...s.matchAll(SEPA_TAG)];
  if (tags.length === 0) return s;
  const sections = tags.map((m, i) => ({
    tag: m[1] ?? m[2],
    text: s.slice(m.index + m[0].length, i + 1 < tags.length ? tags[i + 1].index : s.length).trim(),
  }));
  const purpose = sections.find((x) => x.tag === 'SVWZ');
  if (purpose) return purpose.text;
  return s.slice(0, tags[0].index).trim();
}

// Trailing store / terminal numbers and dates or times a card terminal appends:
// "REWE SAGT DANKE 4711", "CARREFOUR 12/01", "ALDI SUED 54321 12.01. 10:42", "SHELL NR. 1234".
const TERMINAL_SUFFIX = /\s+(?:(?:NR|FIL|FILIALE|STORE|NO)\.?\s*)?(?:#?\d+|\d{1,2}[./]\d{1,2}(?:[./]\d{2,4})?\.?|\d{1,2}:\d{2}(?::\d{2})?)$/i;

function dropTerminalSuffix(s: string): string {
  let prev: string;
  do {
    prev = s;
    const m = TERMINAL_SUFFIX.exec(s);
    // Never leave no words at all, and keep years ("MIETE JANUAR 2024").
    if (m && /\p{L}/u.test(s.slice(0, m.index)) && !/^\s+(?:19|20)\d{2}$/.test(m[0])) s = s.slice(0, m.index);
  } while (s !== prev);
  return s;
}

function titleCase(s: string): string {
  return s
    .split(' ')
    .map((token) => {
      if (/\p{Ll}/u.test(token)) return token;
      const spelled = SPELLINGS.get(token.replace(/[^\p{L}]/gu, ''));
      if (spelled) return token.replace(/\p{L}+/u, spelled);
      const letters = token.replace(/[^\p{L}]/gu, '');
      if (letters.length <= 3 && !SHORT_WORDS.has(letters)) return token;
      return token.toLowerCase().replace(/(^|[\s\-/.&(+])(\p{Ll})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
    })
    .join(' ');
}

// ISO 20022 bank transaction codes (Domain-Family-SubFamily, e.g. PMNT-CCRD-POSD) to a generic label.
const CODE_LABELS: [RegExp, string][] = [
  [/CWDL|ATM/, 'Cash withdrawal'],
  [/CCRD|POSD|CARD/, 'Card payment'],
  [/RDDT|IDDT|DD\b|DMCT/, 'Direct debit'],
  [/STDO/, 'Standing order'],
  [/RCDT/, 'Incoming transfer'],
  [/ICDT/, 'Transfer'],
  [/INTR/, 'Interest'],
  [/CHRG|FEES|COMM/, 'Bank charges'],
];

function labelOfCode(code: string | null): string | null {
  if (!code) return null;
  const upper = code.toUpperCase();
  return CODE_LABELS.find(([re]) => re.test(upper))?.[1] ?? null;
}
