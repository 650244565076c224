import { describe, expect, it } from 'vitest';
import { OpenApiSpec } from './openapi';

const document = {
  openapi: '3.0.1',
  info: { title: 't', version: '1' },
  paths: {
    '/v1/accounts/{account-id}': {
      get: { operationId: 'readAccount', parameters: [{ name: 'account-id', in: 'path', required: true, schema: { type: 'string' } }], responses: {} },
      delete: { operationId: 'deleteAccount', parameters: [{ name: 'account-id', in: 'path', required: true, schema: { type: 'string' } }], responses: {} },
    },
    '/v1/accounts/{account-id}/transactions': {
      get: {
        operationId: 'listTransactions',
        parameters: [
          { name: 'account-id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'bookingStatus', in: 'query', required: true, schema: { type: 'string', enum: ['booked', 'pending', 'both'] } },
          { name: 'X-Request-ID', in: 'header', required: true, schema: { type: 'string' } },
        ],
        responses: {},
      },
    },
    '/v1/accounts/mine': { get: { operationId: 'readMine', responses: {} } },
  },
};

describe('an OpenAPI file the sandbox checks requests against', () => {
  it('matches each method and path to its own operation, the same again when asked again', async () => {
    const spec = await OpenApiSpec.fromDocument('t', document);
    const op = (method: string, path: string) => spec.match({ method, path, headers: {} })?.operationId;
    for (let round = 0; round < 2; round++) {
      expect(op('GET', '/v1/accounts/a1')).toBe('readAccount');
      expect(op('DELETE', '/v1/accounts/a1')).toBe('deleteAccount');
      expect(op('get', '/v1/accounts/a2/transactions')).toBe('listTransactions');
      expect(op('GET', '/v1/accounts/mine')).toBe('readMine');
      expect(op('POST', '/v1/accounts/a1')).toBeUndefined();
      expect(op('GET', '/v2/nothing')).toBeUndefined();
    }
  });

  it('checks every request in full, also on a method and path it matched before', async () => {
    const spec = await OpenApiSpec.fromDocument('t', document);
    const good = { method: 'GET', path: '/v1/accounts/a1/transactions', query: { bookingStatus: 'booked' }, headers: { 'X-Request-ID': 'r1' } };
    expect(spec.checkRequest(good).issues).toEqual([]);
    const bad = spec.checkRequest({ ...good, query: { bookingStatus: 'all' }, headers: {} });
    expect(bad.operation?.operationId).toBe('listTransactions');
    expect(bad.issues.map((i) => `${i.in} ${i.name} ${i.missing}`).sort()).toEqual(['header X-Request-ID true', 'query bookingStatus false']);
    expect(spec.checkRequest(good).issues).toEqual([]);
  });
});
