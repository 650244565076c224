/**
 * Redaction for everything about a bank call that may reach a log line, an error or the audit
 * journal. Bank payloads carry tokens, IBANs, card numbers and people's names; none of these may
 * leave the HTTP layer in clear.
 */

/** What a masked value is replaced with. */
export const REDACTED = '[redacted]';

/**
 * Keys whose values are always masked, compared after lower-casing and dropping `-` and `_`
 * (so `access_token`, `accessToken` and `Access-Token` are one key).
 */
const SECRET_KEYS = new Set([
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'token',
  'clientsecret',
  'clientassertion',
  'assertion',
  'secret',
  'password',
  'code',
  'codeverifier',
  'authorizationcode',
  'psuipaddress',
  'xfapicustomeripaddress',
  'psuid',
  'psucorporateid',
  'psuipport',
  'psuuseragent',
  'psudeviceid',
  'psugeolocation',
  'iban',
  'bban',
  'pan',
  'msisdn',
  'email',
  'identification',
  'secondaryidentification',
  'accountnumber',
  'sortcode',
  'address',
  'postaladdress',
  'addressline',
  'dateofbirth',
  'birthdate',
  'remittanceinformationunstructured',
  'remittanceinformation',
  'unstructured',
  'privatekey',
  'privatekeypem',
  'keypem',
  'signature',
]);

/** Keys ending in "name" hold people's names unless listed here. */
const SAFE_NAME_KEYS = new Set(['productname', 'bankname', 'institutionname', 'schemename', 'name_of_scheme', 'filename', 'hostname']);

/** Error codes are not secrets even under a key named `code`; keep values that look like one. */
const CODE_LIKE = /^(?:[A-Za-z]+(?:[_.][A-Za-z0-9]+)+|[A-Z]{1,2}\d{2,3})$/;

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** True when the value under `key` must never be shown. */
export function isSensitiveKey(key: string): boolean {
  const k = normaliseKey(key);
  if (SECRET_KEYS.has(k)) return true;
  if (k.endsWith('name') && !SAFE_NAME_KEYS.has(key.toLowerCase()) && !SAFE_NAME_KEYS.has(k)) return true;
  return false;
}

// IBAN: country code, two check digits, 11–30 alphanumerics, possibly printed in groups of four.
const IBAN_RE = /\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b/g;
const JWT_RE = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER_RE = /\b(Bearer|Basic|DPoP)\s+[A-Za-z0-9._~+/=-]+/gi;
// `access_token=…`, `"refresh_token":"…"`, `code: …` inside free text or a truncated JSON body.
const KV_RE =
  /((?:access|refresh|id)[_-]?token|client[_-]?secret|client[_-]?assertion|code[_-]?verifier|password|authorization|(?<![A-Za-z])code|psu[_-]?ip[_-]?address)("?\s*[:=]\s*"?)([^"&\s,}]+)/gi;
// Card numbers, UK account numbers and other long digit runs: keep the last four digits.
const LONG_DIGITS_RE = /\b\d(?: ?\d){7,}\b/g;
const EMAIL_RE = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g;
const IPV4_RE = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;

/** Masks an IBAN as country + check digits + `***` + last four, e.g. `FR76***0189`. */
export function maskIban(iban: string): string {
  const compact = iban.replace(/\s+/g, '');
  if (compact.length < 9) return REDACTED;
  return `${compact.slice(0, 4)}***${compact.slice(-4)}`;
}

/**
 * Masks secrets and personal data inside free text: bearer credentials, JWTs, `key=value` secrets,
 * IBANs (kept as `FR76***0189`), long digit runs (card and account numbers, last four kept),
 * e-mail and IPv4 addresses.
 */
export function redactText(text: string): string {
  return text
    .replace(BEARER_RE, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(JWT_RE, REDACTED)
    .replace(KV_RE, (m, key: string, sep: string, value: string) => (key.toLowerCase() === 'code' && CODE_LIKE.test(value) ? m : `${key}${sep}${REDACTED}`))
    .replace(IBAN_RE, (m) => (/\d/.test(m.slice(4)) ? maskIban(m) : m))
    .replace(EMAIL_RE, REDACTED)
    .replace(IPV4_RE, REDACTED)
    .replace(LONG_DIGITS_RE, (m) => `***${m.replace(/\D/g, '').slice(-4)}`);
}

function redactValueUnderKey(key: string, value: unknown): unknown {
  const k = normaliseKey(key);
  if (value === null || value === undefined) return value;
  if (k === 'code' && typeof value === 'string' && CODE_LIKE.test(value)) return value; // an error code, not an OAuth code
  if (k === 'iban' && typeof value === 'string') return maskIban(value);
  if (k === 'pan' && typeof value === 'string') return `***${value.replace(/\D/g, '').slice(-4)}`;
  return REDACTED;
}

/**
 * Returns a deep copy of `value` that is safe to log or store: sensitive keys (tokens, secrets,
 * authorisation codes, PSU identifiers and IP address, IBANs, account numbers, names, addresses)
 * are masked and every string is passed through {@link redactText}. Cycles and depth beyond 8 are
 * cut. Never mutates its input.
 */
export function redact(value: unknown): unknown {
  return redactInner(value, 0, new WeakSet());
}

function redactInner(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8 || seen.has(value)) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactInner(v, depth + 1, seen));
  if (value instanceof Headers) return redactHeaders(value);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !isSensitiveKey(key)) out[key] = redactInner(v, depth + 1, seen);
    else out[key] = isSensitiveKey(key) ? redactValueUnderKey(key, v) : redactInner(v, depth + 1, seen);
  }
  return out;
}

/** Header names whose values may be logged as they are. Everything else is masked. */
const LOGGABLE_HEADERS = new Set([
  'accept',
  'content-type',
  'content-length',
  'x-request-id',
  'x-fapi-interaction-id',
  'x-fapi-financial-id',
  'retry-after',
  'date',
  'aspsp-sca-approach',
  'location',
  'user-agent',
]);

/** Copies headers into a plain object, masking every header not known to be harmless. */
export function redactHeaders(headers: Headers | Record<string, string | readonly string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: Array<[string, string]> = [];
  if (headers instanceof Headers) headers.forEach((value, name) => entries.push([name, value]));
  else
    entries.push(
      ...Object.entries(headers).flatMap(([k, v]): Array<[string, string]> => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : String(v)]])),
    );
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    out[lower] = LOGGABLE_HEADERS.has(lower) ? redactText(value) : REDACTED;
  }
  return out;
}

/**
 * Serialises a (possibly unparsed) body, redacts it and cuts it to `max` characters (500 by
 * default) so that an error can carry a hint of what the bank said without carrying the payload.
 */
export function redactedExcerpt(body: unknown, max = 500): string | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = body;
    }
  } else if (body instanceof Uint8Array) {
    parsed = new TextDecoder().decode(body);
  }
  const safe = redact(parsed);
  const text = typeof safe === 'string' ? safe : JSON.stringify(safe);
  if (text === undefined) return undefined;
  // Redact again after serialising and cut only afterwards, so a cut never leaves half a token behind.
  const flat = redactText(text.replace(/\s+/g, ' '));
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

const ID_SEGMENT = [
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, // uuid
  /^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/i, // IBAN
  /^\d{4,}$/, // numeric ids, account numbers
  /^(?=.*\d)[A-Za-z0-9._~+=-]{12,}$/, // opaque ids with digits
  /^(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_~+=-]{16,}$/, // long mixed-case opaque ids
];
// Route words such as `domestic-payment-consents` or `sepa-credit-transfers` stay as they are.
const ROUTE_WORDS = /^[a-z]+(?:[-_][a-z]+)*$/;

/**
 * Turns a concrete path into a template that names no resource: `/v1/accounts/3f2a…/balances` →
 * `/v1/accounts/{id}/balances`. Used for logs and the audit journal.
 */
export function pathTemplate(pathname: string): string {
  let template = templates.get(pathname);
  if (template === undefined) {
    template = templateOf(pathname);
    // A sync asks for the same few paths page after page; bounded, as every account has paths of its own.
    if (templates.size >= TEMPLATES_KEPT) templates.delete(templates.keys().next().value!);
    templates.set(pathname, template);
  }
  return template;
}

const TEMPLATES_KEPT = 1_000;
const templates = new Map<string, string>();

function templateOf(pathname: string): string {
  return pathname
    .split('/')
    .map((segment) => {
      let decoded = segment;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        /* keep as is */
      }
      if (ROUTE_WORDS.test(decoded)) return segment;
      return ID_SEGMENT.some((re) => re.test(decoded)) ? '{id}' : segment;
    })
    .join('/');
}

/** Query values safe to keep: dates, short enum-like words, small numbers, booleans. */
const SAFE_QUERY_VALUE = /^(?:\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?|[A-Za-z_]{1,20}|\d{1,4}|true|false)$/;
const SAFE_QUERY_KEYS = new Set([
  'datefrom',
  'dateto',
  'bookingstatus',
  'withbalance',
  'page',
  'size',
  'limit',
  'fromstatementdate',
  'tostatementdate',
  'frombookingdatetime',
  'tobookingdatetime',
  'deltalist',
  'entryreferencefrom',
]);

/**
 * The path template plus query keys, keeping only values that cannot be personal (dates, paging,
 * booking status). Used for the audit journal's `path`.
 */
export function describeUrl(url: URL): string {
  const parts: string[] = [];
  for (const [key, value] of url.searchParams) {
    const keep = SAFE_QUERY_KEYS.has(normaliseKey(key)) && SAFE_QUERY_VALUE.test(value) && !isSensitiveKey(key);
    parts.push(`${encodeURIComponent(key)}=${keep ? encodeURIComponent(value) : '{v}'}`);
  }
  const template = pathTemplate(url.pathname);
  return parts.length > 0 ? `${template}?${parts.join('&')}` : template;
}
