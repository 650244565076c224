import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { institutionGid } from '../helpers/banking';

// Schema-driven fuzzing over real HTTP: every Query and Mutation field of the schema the gateway
// serves (so fields added later are walked too), with arguments drawn from their input types
// mixed with hostile values, plus malformed requests. No answer may be a 5xx, an uncoded error
// or INTERNAL_SERVER_ERROR. Seeded (FUZZ_SEED to replay) and bounded to stay well under 2 minutes.

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS_PER_FIELD = Number(process.env.FUZZ_RUNS ?? 8);
console.log(`fuzz seed: ${SEED} (replay with FUZZ_SEED=${SEED})`);

let t: TestGateway;
let key: string;
let schema: GraphQLSchema;
/** Ids that exist, but in another tenant. */
const foreignIds: string[] = [];
/** Ids of the fuzzing tenant's own end user, consent and accounts (so resolvers below them run). */
const ownIds: string[] = [];

const gid = (type: string, id: string) => Buffer.from(`gid://passerelle/${type}/${id}`, 'utf8').toString('base64url');

beforeAll(async () => {
  t = await startTestGateway({ env: { RATE_LIMIT_PER_MINUTE: '100000' } });
  ({ key } = await t.createTenant('Fuzzed'));
  const other = await t.createTenant('Other');
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "theirs" }) { endUser { id } } }',
    {},
    other.key,
  );
  foreignIds.push(u.body.data!.endUserCreate.endUser.id);
  const c = await t.gql<{ consentCreate: { consent: { id: string } } }>(
    'mutation($u: ID!, $i: ID!) { consentCreate(input: { endUserId: $u, institutionId: $i, scopes: [ACCOUNTS], redirectUri: "http://localhost:3999/x" }) { consent { id } } }',
    { u: foreignIds[0], i: institutionGid('nordlicht') },
    other.key,
  );
  if (c.body.data?.consentCreate.consent) foreignIds.push(c.body.data.consentCreate.consent.id);
  const mine = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "mine" }) { endUser { id } } }',
    {},
    key,
  );
  const endUserId = mine.body.data!.endUserCreate.endUser.id;
  const consent = await t.gql<{ consentCreate: { consent: { id: string } } }>(
    'mutation($u: ID!, $i: ID!) { consentCreate(input: { endUserId: $u, institutionId: $i, scopes: [ACCOUNTS, BALANCES, TRANSACTIONS], redirectUri: "http://localhost:3999/x" }) { consent { id } } }',
    { u: endUserId, i: institutionGid('nordlicht') },
    key,
  );
  const consentId = consent.body.data!.consentCreate.consent.id;
  const authorised = await t.gql<{ sandboxConsentAuthorize: { consent: { accounts: { id: string }[] } } }>(
    'mutation($c: ID!) { sandboxConsentAuthorize(input: { consentId: $c }) { consent { accounts { id } } } }',
    { c: consentId },
    key,
  );
  ownIds.push(endUserId, consentId, ...authorised.body.data!.sandboxConsentAuthorize.consent.accounts.map((a) => a.id));
  const intro = await t.gql<IntrospectionQuery>(getIntrospectionQuery(), {}, key);
  schema = buildClientSchema(intro.body.data!);
}, 60_000);
afterAll(async () => t?.close());

const HOSTILE_STRINGS = [
  'a\u0000b',
  '\u0000',
  '\ud800',
  'x\udfffy',
  'x'.repeat(100_000),
  '',
  ' ',
  '\u202e\u200b',
  '😀'.repeat(50),
  "'; drop table tenant; --",
  '../../etc/passwd',
  '%00%ff',
  '<script>alert(1)</script>',
  '{"$ne":null}',
  '9'.repeat(400),
  '-1',
  'NaN',
  '1e309',
  '2026-02-30',
  '0000-00-00T00:00:00Z',
];
const GARBAGE_IDS = [
  'not-an-id',
  gid('Consent', '00000000-0000-0000-0000-000000000000'),
  gid('Account', 'x'),
  gid('Nope', '1'),
  Buffer.from('gid://passerelle/Consent/\u0000', 'utf8').toString('base64url'),
  Buffer.from('a'.repeat(3000)).toString('base64url'),
  'Y3Vyc29y',
  '====',
];

const hostileString = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('a\u0000b', 'x\ud800', 'x'.repeat(100_000)) },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const idValue = () =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...ownIds) },
    { weight: 2, arbitrary: fc.constantFrom(...foreignIds, ...GARBAGE_IDS) },
    { weight: 1, arbitrary: hostileString },
  );
const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant({}),
  fc.constant([]),
  fc.constant({ nested: { deeper: [1, 'a'] } }),
  fc.constant(null),
);

/** Values for an input type: mostly of the right shape with hostile leaves, sometimes the wrong type altogether. */
function valueFor(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  const right = rightShape(type, depth);
  return fc.oneof({ weight: 12, arbitrary: right }, { weight: 1, arbitrary: wrongType });
}

const one = <T>(a: fc.Arbitrary<T>): T => fc.sample(a, { seed: SEED, numRuns: 1 })[0]!;

/** Values of a type with `poison` planted at one string leaf each, everything else ordinary: every string path once. */
function plantings(type: GraphQLInputType, poison: string, depth = 0): unknown[] {
  if (isNonNullType(type)) return plantings(type.ofType, poison, depth);
  if (isListType(type)) return plantings(type.ofType, poison, depth + 1).map((v) => [v]);
  if (isInputObjectType(type)) {
    if (depth > 3) return [];
    const base = one(sane(type, depth, true)) as Record<string, unknown>;
    return Object.values(type.getFields()).flatMap((f) => plantings(f.type, poison, depth + 1).map((v) => ({ ...base, [f.name]: v })));
  }
  return isScalarType(type) && !['Int', 'Float', 'Boolean'].includes(type.name) ? [poison] : [];
}

/** An ordinary value of a type (small pages, the tenant's own ids, plain strings), for the arguments not under attack. */
function sane(type: GraphQLInputType, depth = 0, required = false): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return sane(type.ofType, depth, true);
  if (!required) return fc.constant(null);
  if (isListType(type)) return fc.array(sane(type.ofType, depth + 1), { minLength: 1, maxLength: 2 });
  if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
  if (isInputObjectType(type)) {
    const required = Object.values(type.getFields()).filter((f) => isNonNullType(f.type));
    return depth > 3 ? fc.constant({}) : fc.record(Object.fromEntries(required.map((f) => [f.name, sane(f.type, depth + 1)])));
  }
  switch (isScalarType(type) ? type.name : '') {
    case 'ID':
      return fc.constantFrom(...ownIds);
    case 'Int':
      return fc.integer({ min: 1, max: 5 });
    case 'Boolean':
      return fc.boolean();
    default:
      return rightShape(type, depth);
  }
}

function rightShape(type: GraphQLInputType, depth: number): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return rightShape(type.ofType, depth);
  if (isListType(type)) return fc.array(valueFor(type.ofType, depth + 1), { maxLength: depth > 2 ? 0 : 3 });
  if (isEnumType(type))
    return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...type.getValues().map((v) => v.name)) }, { weight: 1, arbitrary: hostileString });
  if (isInputObjectType(type)) {
    if (depth > 3) return fc.constant({});
    const fields = Object.values(type.getFields());
    // Required fields present (else nothing but coercion is exercised); optional ones sometimes.
    // One field or so under attack, the others ordinary: one bad field refuses the whole object.
    const field = (f: (typeof fields)[number]) =>
      fc.oneof({ weight: fields.length, arbitrary: sane(f.type, depth + 1) }, { weight: 2, arbitrary: valueFor(f.type, depth + 1) });
    return fc.record(Object.fromEntries(fields.map((f) => [f.name, field(f)])), {
      requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name),
    });
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'ID':
        return idValue();
      case 'Int':
        return fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31)), fc.constant(2 ** 31));
      case 'Float':
        return fc.oneof(fc.double({ noNaN: true }), fc.constant(1e308));
      case 'Boolean':
        return fc.boolean();
      case 'Decimal':
        return fc.oneof(fc.constantFrom('0', '0.01', '12.30', '-1', '1e5', '999999999999999999999.999', '١٢'), hostileString);
      case 'LocalDate':
        return fc.oneof(fc.constantFrom('2026-12-06', '1900-01-01', '9999-12-31', '2026-02-29'), hostileString);
      case 'DateTimeISO':
        return fc.oneof(fc.constantFrom('2026-12-06T10:00:00Z', '2026-12-06T10:00:00+14:00', '275760-09-13T00:00:00Z'), hostileString);
      case 'JSONObject':
        return fc.oneof(fc.constant({ a: 1 }), fc.dictionary(hostileString, hostileString, { maxKeys: 3 }));
      default:
        return hostileString;
    }
  }
  return fc.constant(null);
}

/**
 * A field with its arguments as variables, and under it (to a small depth) every field that takes
 * arguments (a connection's `nodes`, an account's `transactions(filter:)`…), so nested inputs are fuzzed too.
 */
function fieldSelection(field: GraphQLField<unknown, unknown>, depth: number, vars: { name: string; type: GraphQLInputType }[]): string {
  const args = field.args.map((a) => {
    const name = `v${vars.length}`;
    vars.push({ name, type: a.type });
    return `${a.name}: $${name}`;
  });
  const named = getNamedType(field.type);
  let sub = '';
  if (!isLeafType(named)) {
    const inner: string[] = ['__typename'];
    if (depth < 3 && (isObjectType(named) || isInterfaceType(named))) {
      for (const f of Object.values(named.getFields())) {
        if (f.args.length > 0 || f.name === 'nodes') inner.push(fieldSelection(f, depth + 1, vars));
      }
    }
    sub = ` { ${inner.join(' ')} }`;
  }
  return `${field.name}${args.length ? `(${args.join(', ')})` : ''}${sub}`;
}

function operationFor(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>): { query: string; vars: { name: string; type: GraphQLInputType }[] } {
  const vars: { name: string; type: GraphQLInputType }[] = [];
  const body = fieldSelection(field, 0, vars);
  const decl = vars.map((v) => `$${v.name}: ${v.type.toString()}`).join(', ');
  return { query: `${kind} Fuzz${decl ? `(${decl})` : ''} { ${body} }`, vars };
}

interface Answer {
  status: number;
  body: { errors?: { message: string; extensions?: { code?: unknown } }[] } | null;
  text: string;
}

async function post(body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(t.gateway.graphqlUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let parsed: Answer['body'] = null;
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text };
}

/** What is wrong with an answer, or null: a 5xx, an unparsable body, an uncoded error or INTERNAL_SERVER_ERROR. */
function fault(a: Answer): string | null {
  if (a.status >= 500) return `HTTP ${a.status}: ${a.text.slice(0, 300)}`;
  if (!a.body) return `HTTP ${a.status} with a body that is not JSON: ${a.text.slice(0, 200)}`;
  for (const e of a.body.errors ?? []) {
    if (typeof e.extensions?.code !== 'string') return `uncoded error: ${e.message}`;
    if (e.extensions.code === 'INTERNAL_SERVER_ERROR') return `INTERNAL_SERVER_ERROR: ${e.message}`;
  }
  return null;
}

const clip = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'string' && x.length > 80 ? `${x.slice(0, 80)}…(${x.length})` : x));

describe('schema-driven fuzzing over HTTP', () => {
  it('answers every Query and Mutation field, given hostile and wrongly typed arguments, without a 5xx or INTERNAL_SERVER_ERROR', async () => {
    const roots = [
      ['query', schema.getQueryType()],
      ['mutation', schema.getMutationType()],
    ] as const;
    const faults: string[] = [];
    let requests = 0;
    for (const [kind, root] of roots) {
      for (const field of Object.values(root!.getFields())) {
        const { query, vars } = operationFor(kind, field);
        // One argument or so under attack per operation: a single bad one refuses the whole document.
        const attack = (v: { type: GraphQLInputType }) =>
          fc.oneof({ weight: vars.length, arbitrary: sane(v.type) }, { weight: 1, arbitrary: valueFor(v.type) });
        const variables = fc.record(Object.fromEntries(vars.map((v) => [v.name, attack(v)])), {
          requiredKeys: vars.filter((v) => isNonNullType(v.type)).map((v) => v.name),
        });
        await fc.assert(
          fc.asyncProperty(variables, async (vars) => {
            requests++;
            const ans = await post(JSON.stringify({ query, variables: vars, operationName: 'Fuzz' }));
            const problem = fault(ans);
            if (problem) faults.push(`${field.name} ${clip(vars)} → ${problem}`);
          }),
          { seed: SEED + requests, numRuns: Math.min(RUNS_PER_FIELD + 3 * vars.length, 40), endOnFailure: true },
        );
      }
    }
    // Then every string path of every argument once, with each string Postgres cannot store.
    for (const [kind, root] of roots) {
      for (const field of Object.values(root!.getFields())) {
        const { query, vars } = operationFor(kind, field);
        const base = Object.fromEntries(vars.map((v) => [v.name, one(sane(v.type))]));
        for (const v of vars) {
          for (const poison of ['a\u0000b', 'x\ud800y']) {
            for (const planted of plantings(v.type, poison)) {
              requests++;
              const problem = fault(await post(JSON.stringify({ query, variables: { ...base, [v.name]: planted }, operationName: 'Fuzz' })));
              if (problem) faults.push(`${field.name} ${v.name}=${clip(planted)} → ${problem}`);
            }
          }
        }
      }
    }
    console.log(`fuzz: ${requests} operations over ${roots.reduce((n, [, r]) => n + Object.keys(r!.getFields()).length, 0)} fields`);
    expect(faults, faults.slice(0, 10).join('\n')).toEqual([]);
    expect(t.logs.filter((l) => /unexpected error in GraphQL operation|unhandled HTTP error/.test(l))).toEqual([]);
  }, 110_000);

  it('refuses a NUL or an unpaired surrogate in any string with BAD_USER_INPUT, before it reaches the database', async () => {
    for (const search of ['a\u0000b', 'x\ud800']) {
      const a = await post(
        JSON.stringify({
          query: 'query($f: TransactionFilter) { viewer { id } accounts(first: 1) { nodes { transactions(first: 1, filter: $f) { nodes { id } } } } }',
          variables: { f: { search } },
        }),
      );
      expect(fault(a)).toBeNull();
      expect(a.status).toBe(400);
      expect(a.body!.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    }
    const literal = await post(JSON.stringify({ query: 'mutation { endUserCreate(input: { externalRef: "a\\u0000b" }) { endUser { id } } }' }));
    expect(literal.body!.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('answers a mismatched operationName, a subscription over HTTP POST, an unsupported charset and other malformed requests with coded 4xx errors', async () => {
    const cases: [string, string, Record<string, string>, number, string][] = [
      ['operationName names no operation', JSON.stringify({ query: 'query A { viewer { id } }', operationName: 'B' }), {}, 400, 'BAD_REQUEST'],
      ['two operations, no name', JSON.stringify({ query: 'query A { viewer { id } } query B { viewer { id } }' }), {}, 400, 'BAD_REQUEST'],
      ['subscription over POST', JSON.stringify({ query: 'subscription { events { id } }' }), {}, 400, 'BAD_REQUEST'],
      ['latin1 charset', JSON.stringify({ query: '{ viewer { id } }' }), { 'content-type': 'application/json; charset=latin1' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['unknown content-encoding', JSON.stringify({ query: '{ viewer { id } }' }), { 'content-encoding': 'x-bogus' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ];
    for (const [name, body, headers, status, code] of cases) {
      const a = await post(body, headers);
      expect(fault(a), name).toBeNull();
      expect([name, a.status, a.body?.errors?.[0]?.extensions?.code]).toEqual([name, status, code]);
    }
  });

  it('never faults on odd bodies, content types, charsets and operation names', async () => {
    const bodies = fc.oneof(
      fc.constantFrom(
        '[]',
        'null',
        '1',
        '"x"',
        '{}',
        '{"query":1}',
        '{"query":"{ viewer { id } }","variables":[]}',
        '{"query":"{ viewer { id } }","variables":"x"}',
        '{"query":"{ viewer { id } }","operationName":5}',
        '{"query":"{ viewer { id } }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"00"}}}',
        '[{"query":"{ viewer { id } }"}]',
        '{"query":"subscription S { events { id } }","operationName":"S"}',
        '{"query":"{ viewer { id } }"',
        '\u0000',
        '{"query":"' + '{'.repeat(5000) + '"}',
      ),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc
        .record({
          query: fc.oneof(fc.constant('query A { viewer { id } }'), fc.string()),
          operationName: fc.oneof(fc.constant('A'), fc.string(), fc.constant(null)),
          variables: fc.oneof(fc.constant({}), fc.dictionary(fc.string(), hostileString)),
        })
        .map((o) => JSON.stringify(o)),
    );
    const contentTypes = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/json; charset=',
      'application/json; charset="utf-8"; foo=bar',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/graphql',
      '*/*',
      '',
      '\u00ff',
    );
    const faults: string[] = [];
    await fc.assert(
      fc.asyncProperty(bodies, contentTypes, async (body, contentType) => {
        let a: Answer;
        try {
          a = await post(body, { 'content-type': contentType, 'apollo-require-preflight': 'x' });
        } catch {
          return; // a header value fetch itself refuses to send
        }
        const problem = fault(a);
        if (problem) faults.push(`${contentType} ${clip(body)} → ${problem}`);
      }),
      { seed: SEED, numRuns: 150 },
    );
    expect(faults, faults.slice(0, 10).join('\n')).toEqual([]);
  }, 60_000);
});
