/**
 * JSON Schemas for the STET 1.6 shapes the sandbox serves. STET publishes no machine-readable file
 * in a public repository, so these follow ../shared/specs/README.md and the STET 1.6 text: HAL
 * `_links`, unsigned amounts with creditDebitIndicator, BOOK|PDNG|OTHR, CLBD|XPCD|OTHR.
 */
const href = { type: 'object', required: ['href'], properties: { href: { type: 'string', format: 'uri' }, templated: { type: 'boolean' } } };
const amount = {
  type: 'object',
  required: ['currency', 'amount'],
  additionalProperties: false,
  properties: { currency: { type: 'string', pattern: '^[A-Z]{3}$' }, amount: { type: 'string', pattern: '^-?\\d{1,14}(\\.\\d{1,2})?$' } },
};
const unsignedAmount = { ...amount, properties: { ...amount.properties, amount: { type: 'string', pattern: '^\\d{1,14}(\\.\\d{1,2})?$' } } };
const date = { type: 'string', format: 'date' };
const balance = {
  type: 'object',
  required: ['name', 'balanceAmount', 'balanceType'],
  properties: {
    name: { type: 'string', maxLength: 70 },
    balanceAmount: amount,
    balanceType: { type: 'string', enum: ['CLBD', 'XPCD', 'OTHR', 'VALU', 'ITAV'] },
    lastChangeDateTime: { type: 'string', format: 'date-time' },
    referenceDate: date,
  },
};

export const stetSchemas = {
  accounts: {
    type: 'object',
    required: ['accounts', '_links'],
    properties: {
      accounts: {
        type: 'array',
        items: {
          type: 'object',
          required: ['resourceId', 'name', 'cashAccountType', '_links'],
          properties: {
            resourceId: { type: 'string', maxLength: 100 },
            bicFi: { type: 'string', pattern: '^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$' },
            accountId: { type: 'object', required: ['iban'], properties: { iban: { type: 'string', pattern: '^[A-Z]{2}\\d{2}[A-Z0-9]{11,30}$' }, currency: { type: 'string' } } },
            name: { type: 'string', maxLength: 70 },
            details: { type: 'string', maxLength: 140 },
            usage: { enum: ['PRIV', 'ORGA'] },
            cashAccountType: { enum: ['CACC', 'CARD'] },
            product: { type: 'string' },
            psuStatus: { type: 'string' },
            balances: { type: 'array', items: balance },
            _links: { type: 'object', required: ['balances', 'transactions'], properties: { balances: href, transactions: href } },
          },
        },
      },
      _links: { type: 'object', required: ['self'], properties: { self: href, first: href, last: href, next: href, prev: href } },
    },
  },
  balances: {
    type: 'object',
    required: ['balances', '_links'],
    properties: { balances: { type: 'array', minItems: 1, items: balance }, _links: { type: 'object', required: ['self'], properties: { self: href } } },
  },
  transactions: {
    type: 'object',
    required: ['transactions', '_links'],
    properties: {
      transactions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['transactionAmount', 'creditDebitIndicator', 'status', 'remittanceInformation'],
          properties: {
            resourceId: { type: 'string' },
            entryReference: { type: 'string', maxLength: 35 },
            transactionAmount: unsignedAmount,
            creditDebitIndicator: { enum: ['CRDT', 'DBIT'] },
            status: { enum: ['BOOK', 'PDNG', 'OTHR'] },
            bookingDate: date,
            valueDate: date,
            transactionDate: date,
            remittanceInformation: { type: 'object', properties: { unstructured: { type: 'array', items: { type: 'string', maxLength: 140 } }, structured: { type: 'array' } } },
            bankTransactionCode: { type: 'object', properties: { domain: { type: 'string' }, family: { type: 'string' }, subFamily: { type: 'string' } } },
          },
        },
      },
      _links: { type: 'object', required: ['self'], properties: { self: href, first: href, last: href, next: href, prev: href, balances: href, 'parent-list': href } },
    },
  },
  paymentRequestCreated: {
    type: 'object',
    required: ['appliedAuthenticationApproach', '_links'],
    properties: {
      appliedAuthenticationApproach: { enum: ['REDIRECT', 'DECOUPLED', 'EMBEDDED'] },
      _links: { type: 'object', required: ['consentApproval'], properties: { consentApproval: href } },
    },
  },
  paymentRequest: {
    type: 'object',
    required: ['paymentRequest'],
    properties: {
      paymentRequest: {
        type: 'object',
        required: ['resourceId', 'paymentInformationStatus', 'creditTransferTransaction'],
        properties: {
          paymentInformationStatus: { enum: ['ACCP', 'ACSC', 'ACSP', 'ACTC', 'ACWC', 'ACWP', 'PART', 'RCVD', 'PDNG', 'RJCT', 'CANC'] },
          statusReasonInformation: { type: 'string' },
          creditTransferTransaction: { type: 'array', minItems: 1, items: { type: 'object', required: ['instructedAmount'], properties: { instructedAmount: amount } } },
        },
      },
    },
  },
  error: {
    type: 'object',
    required: ['status', 'error', 'message'],
    properties: { timestamp: { type: 'string' }, status: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' }, path: { type: 'string' } },
  },
} as const;

import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv) => Ajv;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const compiled = Object.fromEntries(Object.entries(stetSchemas).map(([k, v]) => [k, ajv.compile(v)]));

/** Throws with details when a STET response body does not have the STET 1.6 shape. */
export function assertStet(name: keyof typeof stetSchemas, body: unknown): void {
  const fn = compiled[name];
  if (!fn(body)) throw new Error(`STET ${name} shape mismatch: ${ajv.errorsText(fn.errors)}\n${JSON.stringify(body).slice(0, 1500)}`);
}
