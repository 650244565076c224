// The Postman collection, checked without a gateway: its shape, and every GraphQL document in it
// against the current schema, so a schema change that breaks it fails here in a second (CI then
// runs it for real with newman: `npm run postman`).
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { getVariableValues, Kind, parse, validate, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { z } from 'zod';
import { buildApiSchema } from '../src/api/schema';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(root, 'postman', file), 'utf8'));

const script = z.strictObject({
  listen: z.enum(['prerequest', 'test']),
  script: z.strictObject({ type: z.literal('text/javascript'), exec: z.array(z.string()).min(1) }),
});
const request = z.strictObject({
  name: z.string().min(1),
  event: z.array(script),
  request: z.strictObject({
    method: z.literal('POST'),
    header: z.array(z.unknown()).length(0),
    body: z.strictObject({ mode: z.literal('graphql'), graphql: z.strictObject({ query: z.string().min(1), variables: z.string() }) }),
    url: z.strictObject({ raw: z.literal('{{baseUrl}}/graphql'), host: z.tuple([z.literal('{{baseUrl}}')]), path: z.tuple([z.literal('graphql')]) }),
    description: z.string().min(1),
  }),
  response: z.array(z.unknown()),
});
/** The part of Postman's collection format v2.1 this collection uses, strictly (auth only at the collection level). */
const collectionShape = z.strictObject({
  info: z.strictObject({
    _postman_id: z.uuid(),
    name: z.string().min(1),
    description: z.string().min(1),
    schema: z.literal('https://schema.getpostman.com/json/collection/v2.1.0/collection.json'),
  }),
  auth: z.strictObject({
    type: z.literal('bearer'),
    bearer: z.tuple([z.strictObject({ key: z.literal('token'), value: z.literal('{{apiKey}}'), type: z.literal('string') })]),
  }),
  event: z.array(script),
  variable: z.array(z.strictObject({ key: z.string(), value: z.string(), type: z.literal('string'), description: z.string().optional() })),
  item: z.array(z.strictObject({ name: z.string().min(1), description: z.string().min(1), item: z.array(request).min(1) })).min(1),
});
const environmentShape = z.strictObject({
  id: z.uuid(),
  name: z.string().min(1),
  values: z.array(z.strictObject({ key: z.string(), value: z.string(), type: z.enum(['default', 'secret']), enabled: z.literal(true) })),
  _postman_variable_scope: z.literal('environment'),
});

type Request = z.infer<typeof request>;
const collection = collectionShape.parse(read('passerelle.postman_collection.json'));
const environment = environmentShape.parse(read('passerelle.postman_environment.json'));
const requests: Request[] = collection.item.flatMap((folder) => folder.item);
const scriptOf = (r: Request, listen: 'prerequest' | 'test') => r.event.find((e) => e.listen === listen)?.script.exec.join('\n') ?? '';
const operationOf = (r: Request) =>
  parse(r.request.body.graphql.query).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
/** The root fields of a request's operation, e.g. `paymentInitiate`. */
const rootFields = (r: Request) => operationOf(r).selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : []));

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildApiSchema();
});

describe('Postman collection', () => {
  it('is a v2.1 collection whose requests all POST GraphQL to {{baseUrl}}/graphql with the collection’s bearer key', () => {
    // Parsing above already checked the strict shape; here, what a reader of the file would check next.
    expect(requests.length).toBeGreaterThan(20);
    expect(new Set(requests.map((r) => r.name)).size, 'request names are unique (setNextRequest goes by name)').toBe(requests.length);
    const collectionTest = collection.event.find((e) => e.listen === 'test')!.script.exec.join('\n');
    expect(collectionTest).toMatch(/body\.errors/);
  });

  it('has an environment with baseUrl and a secret, empty apiKey', () => {
    expect(environment.values).toEqual([
      { key: 'baseUrl', value: 'http://localhost:4000', type: 'default', enabled: true },
      { key: 'apiKey', value: '', type: 'secret', enabled: true },
    ]);
  });

  it('gives every request a test script that asserts something', () => {
    for (const r of requests) expect(scriptOf(r, 'test'), r.name).toMatch(/pm\.test\(/);
  });

  it('uses only variables it declares, the environment’s, or Postman’s $guid', () => {
    const known = new Set([...collection.variable.map((v) => v.key), ...environment.values.map((v) => v.key), '$guid']);
    const text = JSON.stringify(collection.item);
    const used = new Set([...text.matchAll(/\{\{([^{}]+)\}\}/g)].map((m) => m[1]));
    for (const name of used) expect(known.has(name), `{{${name}}}`).toBe(true);
    for (const r of requests) {
      for (const [, name] of (scriptOf(r, 'prerequest') + scriptOf(r, 'test')).matchAll(/collectionVariables\.(?:get|set)\('([^']+)'/g))
        expect(known.has(name), `${r.name}: ${name}`).toBe(true);
    }
  });

  it('sends GraphQL documents and variables that the current schema accepts', () => {
    for (const r of requests) {
      const document = parse(r.request.body.graphql.query);
      expect(
        validate(schema, document).map((e) => e.message),
        r.name,
      ).toEqual([]);
      // The variables as Postman sends them, placeholders being strings: input types, enum values and scalars must fit.
      const variables = JSON.parse(r.request.body.graphql.variables) as Record<string, unknown>;
      const coerced = getVariableValues(schema, operationOf(r).variableDefinitions ?? [], variables);
      expect(coerced.errors?.map((e) => e.message) ?? [], r.name).toEqual([]);
    }
  });

  it('walks the journey of the issue in order', () => {
    const steps = requests.map((r) => ({
      name: r.name,
      fields: rootFields(r),
      query: r.request.body.graphql.query,
      variables: r.request.body.graphql.variables,
      test: scriptOf(r, 'test'),
    }));
    const at = (what: string, found: (s: (typeof steps)[number]) => boolean) => {
      const i = steps.findIndex(found);
      expect(i, what).toBeGreaterThanOrEqual(0);
      return i;
    };
    const journey = [
      at('viewer', (s) => s.fields.includes('viewer')),
      at('create an end user', (s) => s.fields.includes('endUserCreate') && s.variables.includes('{{$guid}}')),
      at('list institutions', (s) => s.fields.includes('institutions')),
      at('create a consent', (s) => s.fields.includes('consentCreate') && s.test.includes('authorizationUrl')),
      at('complete SCA through the sandbox shortcut', (s) => s.fields.includes('sandboxConsentAuthorize')),
      at('wait for the first sync', (s) => s.fields.includes('account') && s.query.includes('syncStatus') && s.test.includes('setNextRequest')),
      at('list accounts with balances', (s) => s.query.includes('balances')),
      at('first page of transactions', (s) => s.query.includes('transactions(') && !s.variables.includes('"after"')),
      at('next page of transactions', (s) => s.query.includes('transactions(') && s.variables.includes('"after"')),
      at('transactionsSync without a cursor', (s) => s.fields.includes('transactionsSync') && !s.variables.includes('"cursor"')),
      at('transactionsSync with the cursor', (s) => s.fields.includes('transactionsSync') && s.variables.includes('"cursor"')),
      at('a new transaction at the bank', (s) => s.fields.includes('sandboxTransactionsCreate')),
      at('a user-present sync', (s) => s.fields.includes('accountSync') && s.variables.includes('USER_PRESENT') && s.variables.includes('psuIpAddress')),
      at('the change feed shows it', (s) => s.name.includes('new transaction') && s.fields.includes('transactionsSync')),
      at('create a webhook endpoint', (s) => s.fields.includes('webhookEndpointCreate') && s.test.includes('whsec_')),
      at('list webhook endpoints', (s) => s.fields.includes('webhookEndpoints')),
      at('read the events', (s) => s.fields.includes('events') && s.test.includes('transactionId')),
      at('initiate a payment', (s) => s.fields.includes('paymentInitiate') && s.variables.includes('{{idempotencyKey}}')),
      at(
        'initiate it again: same payment',
        (s) => s.fields.includes('paymentInitiate') && s.test.includes("payload.payment.id).to.eql(pm.collectionVariables.get('paymentId')"),
      ),
      at('read the payment’s status', (s) => s.fields.includes('node') && s.query.includes('on Payment')),
      at('revoke the consent', (s) => s.fields.includes('consentRevoke') && s.test.includes('REVOKED')),
    ];
    expect(journey).toEqual([...journey].sort((a, b) => a - b));
    // Unique data per run, so the collection runs again and again against one gateway.
    const initiate = requests.find((r) => rootFields(r).includes('paymentInitiate') && r.request.body.graphql.variables.includes('{{idempotencyKey}}'))!;
    expect(scriptOf(initiate, 'prerequest')).toMatch(/collectionVariables\.set\('idempotencyKey', .*\$guid/);
  });

  it('shows a bad input answered with a userError code', () => {
    const bad = requests.filter((r) => /userErrors\[0\]\.code\)\.to\.eql\('[A-Z_]+'\)/.test(scriptOf(r, 'test')));
    expect(bad.map((r) => r.name)).toContain('Bad input: an invalid IBAN');
  });
});
