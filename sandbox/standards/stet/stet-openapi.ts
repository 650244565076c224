import { OpenApiSpec } from '../../core/openapi';

/**
 * The STET 1.6 shapes the sandbox serves and accepts, as an OpenAPI 3.0 document for the
 * sandbox's one validator (`OpenApiSpec`). STET publishes no machine-readable file in a public
 * repository, so this follows ../shared/specs/README.md and the STET 1.6 text: HAL `_links`,
 * unsigned amounts with creditDebitIndicator, BOOK|PDNG|OTHR, CLBD|XPCD|OTHR, pain.001-like
 * payment requests. Only the operations the sandbox serves are described.
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
            accountId: {
              type: 'object',
              required: ['iban'],
              properties: { iban: { type: 'string', pattern: '^[A-Z]{2}\\d{2}[A-Z0-9]{11,30}$' }, currency: { type: 'string' } },
            },
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
            remittanceInformation: {
              type: 'object',
              properties: { unstructured: { type: 'array', items: { type: 'string', maxLength: 140 } }, structured: { type: 'array' } },
            },
            bankTransactionCode: { type: 'object', properties: { domain: { type: 'string' }, family: { type: 'string' }, subFamily: { type: 'string' } } },
          },
        },
      },
      _links: {
        type: 'object',
        required: ['self'],
        properties: { self: href, first: href, last: href, next: href, prev: href, balances: href, 'parent-list': href },
      },
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
          creditTransferTransaction: {
            type: 'array',
            minItems: 1,
            items: { type: 'object', required: ['instructedAmount'], properties: { instructedAmount: amount } },
          },
        },
      },
    },
  },
  error: {
    type: 'object',
    required: ['status', 'error', 'message'],
    properties: {
      timestamp: { type: 'string' },
      status: { type: 'integer' },
      error: { type: 'string' },
      message: { type: 'string' },
      path: { type: 'string' },
    },
  },
} as const;

const uuid = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' };
const iban = { type: 'string', pattern: '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$' };
const accountRef = { type: 'object', required: ['iban'], properties: { iban, currency: { type: 'string', pattern: '^[A-Z]{3}$' } } };
const header = (name: string, required: boolean, schema: object = { type: 'string' }) => ({ name, in: 'header', required, schema });
const common = [
  header('X-Request-ID', true, uuid),
  header('Authorization', true, { type: 'string', pattern: '^Bearer ' }),
  header('PSU-IP-Address', false, { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] }),
];
const json = (schema: object) => ({ content: { 'application/hal+json': { schema }, 'application/json': { schema } } });
const answer = (status: number, schema: object) => ({
  [status]: { description: String(status), ...json(schema) },
  default: { description: 'error', ...json(stetSchemas.error) },
});
const pathId = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 100 } });

const paymentRequestBody = {
  type: 'object',
  required: [
    'paymentInformationId',
    'creationDateTime',
    'numberOfTransactions',
    'initiatingParty',
    'paymentTypeInformation',
    'beneficiary',
    'creditTransferTransaction',
  ],
  properties: {
    paymentInformationId: { type: 'string', maxLength: 35 },
    creationDateTime: { type: 'string', format: 'date-time' },
    numberOfTransactions: { type: 'integer', minimum: 1 },
    initiatingParty: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 140 } } },
    paymentTypeInformation: {
      type: 'object',
      required: ['serviceLevel'],
      properties: { serviceLevel: { enum: ['SEPA', 'NURG'] }, localInstrument: { type: 'string' }, categoryPurpose: { type: 'string' } },
    },
    debtorAccount: accountRef,
    beneficiary: {
      type: 'object',
      required: ['creditor', 'creditorAccount'],
      properties: {
        creditorAgent: { type: 'object', properties: { bicFi: { type: 'string' } } },
        creditor: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 70 } } },
        creditorAccount: accountRef,
      },
    },
    chargeBearer: { enum: ['SLEV', 'DEBT', 'CRED', 'SHAR'] },
    requestedExecutionDate: { type: 'string', format: 'date-time' },
    creditTransferTransaction: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['paymentId', 'instructedAmount'],
        properties: {
          paymentId: {
            type: 'object',
            required: ['instructionId', 'endToEndId'],
            properties: { instructionId: { type: 'string', maxLength: 35 }, endToEndId: { type: 'string', maxLength: 35 } },
          },
          instructedAmount: unsignedAmount,
          remittanceInformation: { type: 'object', properties: { unstructured: { type: 'array', items: { type: 'string', maxLength: 140 } } } },
        },
      },
    },
    supplementaryData: {
      type: 'object',
      properties: {
        acceptedAuthenticationApproach: { type: 'array', items: { enum: ['REDIRECT', 'DECOUPLED', 'EMBEDDED'] } },
        successfulReportUrl: { type: 'string', format: 'uri' },
        unsuccessfulReportUrl: { type: 'string', format: 'uri' },
      },
    },
  },
};

/** The STET 1.6 operations the sandbox serves, as an OpenAPI 3.0 document (paths below the API root). */
export const stetOpenApi = {
  openapi: '3.0.1',
  info: { title: 'STET PSD2 API 1.6 (shapes served by the Passerelle sandbox)', version: '1.6' },
  paths: {
    '/accounts': { get: { operationId: 'accountsGet', parameters: common, responses: answer(200, stetSchemas.accounts) } },
    '/accounts/{accountResourceId}/balances': {
      get: { operationId: 'balancesGet', parameters: [...common, pathId('accountResourceId')], responses: answer(200, stetSchemas.balances) },
    },
    '/accounts/{accountResourceId}/transactions': {
      get: {
        operationId: 'transactionsGet',
        parameters: [
          ...common,
          pathId('accountResourceId'),
          { name: 'dateFrom', in: 'query', required: false, schema: date },
          { name: 'dateTo', in: 'query', required: false, schema: date },
          { name: 'entryReferenceFrom', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'page', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
        ],
        responses: answer(200, stetSchemas.transactions),
      },
    },
    '/consents': {
      put: {
        operationId: 'consentsPut',
        parameters: common,
        requestBody: {
          required: true,
          ...json({
            type: 'object',
            properties: {
              balances: { type: 'array', items: accountRef },
              transactions: { type: 'array', items: accountRef },
              trustedBeneficiaries: { type: 'boolean' },
              psuIdentity: { type: 'boolean' },
            },
          }),
        },
        responses: { 201: { description: 'Created' }, default: { description: 'error', ...json(stetSchemas.error) } },
      },
    },
    '/payment-requests': {
      post: {
        operationId: 'paymentRequestsPost',
        parameters: common,
        requestBody: { required: true, ...json(paymentRequestBody) },
        responses: answer(201, stetSchemas.paymentRequestCreated),
      },
    },
    '/payment-requests/{paymentRequestResourceId}': {
      get: {
        operationId: 'paymentRequestGet',
        parameters: [...common, pathId('paymentRequestResourceId')],
        responses: answer(200, stetSchemas.paymentRequest),
      },
      put: {
        operationId: 'paymentRequestPut',
        parameters: [...common, pathId('paymentRequestResourceId')],
        requestBody: {
          required: true,
          ...json({
            type: 'object',
            required: ['paymentInformationStatus'],
            properties: { paymentInformationStatus: { type: 'string' }, statusReasonInformation: { type: 'string' } },
          }),
        },
        responses: answer(200, stetSchemas.paymentRequest),
      },
    },
    '/payment-requests/{paymentRequestResourceId}/confirmation': {
      post: {
        operationId: 'paymentRequestConfirmationPost',
        parameters: [...common, pathId('paymentRequestResourceId')],
        requestBody: { required: false, ...json({ type: 'object', properties: { psuAuthenticationFactor: { type: 'string' } } }) },
        responses: answer(200, stetSchemas.paymentRequest),
      },
    },
  },
};

/** Which operation and status each named STET shape is the answer of (for response checks). */
export const stetShapeOperation: Record<keyof typeof stetSchemas, { operationId: string; status: number }> = {
  accounts: { operationId: 'accountsGet', status: 200 },
  balances: { operationId: 'balancesGet', status: 200 },
  transactions: { operationId: 'transactionsGet', status: 200 },
  paymentRequestCreated: { operationId: 'paymentRequestsPost', status: 201 },
  paymentRequest: { operationId: 'paymentRequestGet', status: 200 },
  error: { operationId: 'accountsGet', status: 400 },
};

/** The STET document as a validator; `apiRoot` is the bank's STET root (e.g. /stet/psd2/v1.6). */
export function stetSpec(apiRoot = '/'): Promise<OpenApiSpec> {
  return OpenApiSpec.fromDocument('STET 1.6 (sandbox/standards/stet/stet-openapi.ts)', stetOpenApi, { apiRoot });
}
