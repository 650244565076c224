import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadInstitutionsFile } from '../../src/banking/registry';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

const liveBank = {
  id: 'example-live',
  name: 'Exämple Live Bank',
  bic: 'EXLBDEFFXXX',
  country: 'DE',
  standard: 'BERLIN_GROUP',
  standardVersion: '1.3.12',
  aisBaseUrl: 'https://api.example-live.test/psd2',
  pisBaseUrl: 'https://api.example-live.test/psd2',
  issuer: 'https://auth.example-live.test',
  scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
  paymentSchemes: ['SEPA_CREDIT_TRANSFER'],
  scaApproaches: ['REDIRECT'],
  maxConsentDays: 180,
  maxHistoryDays: 730,
  frequencyPerDay: 4,
};
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-inst-'));
const file = path.join(dir, 'institutions.json');
fs.writeFileSync(file, JSON.stringify({ institutions: [liveBank] }));

let t: TestGateway;
let sandboxKey: string;
let liveKey: string;
beforeAll(async () => {
  t = await startTestGateway({ env: { INSTITUTIONS_FILE: file } });
  sandboxKey = (await t.createTenant('Sandbox dev')).key;
  liveKey = (await t.createTenant('Live co', 'live')).key;
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

type List = {
  institutions: {
    nodes: { id: string; name: string; country: string; standard: string; paymentSchemes: string[] }[];
    pageInfo: { hasNextPage: boolean; endCursor: string };
  };
};
const LIST = `query($country: String, $search: String, $capability: Capability, $first: Int, $after: String) {
  institutions(country: $country, search: $search, capability: $capability, first: $first, after: $after) {
    nodes { id name country standard paymentSchemes } pageInfo { hasNextPage endCursor }
  }
}`;
const names = async (vars: Record<string, unknown>, key = sandboxKey) => (await t.gql<List>(LIST, vars, key)).body.data!.institutions.nodes.map((n) => n.name);

describe('institutions', () => {
  it('lists the sandbox banks of every standard to a sandbox key, ordered by name', async () => {
    const r = await t.gql<List>(LIST, {}, sandboxKey);
    const nodes = r.body.data!.institutions.nodes;
    expect(nodes.map((n) => n.name)).toEqual([...nodes.map((n) => n.name)].sort((a, b) => a.localeCompare(b, 'en')));
    // The same banks reached through the sandbox upstream aggregator are listed beside them (docs/upstream-aggregators.md).
    expect(new Set(nodes.map((n) => n.standard))).toEqual(new Set(['BERLIN_GROUP', 'STET', 'UK_OPEN_BANKING', 'GOCARDLESS']));
    expect(nodes.map((n) => n.name)).not.toContain(liveBank.name);
  });

  it('lists only live banks to a live key', async () => {
    expect(await names({}, liveKey)).toEqual([liveBank.name]);
  });

  it('filters by country, by name without caring for accents or case, by BIC and by capability', async () => {
    expect(await names({ country: 'gb' })).toEqual(['Thames & Harbour Bank', 'Thames & Harbour Bank (via GoCardless)']);
    expect(await names({ search: 'RIVAGE' })).toEqual(['Banque du Rivage', 'Banque du Rivage (via GoCardless)']);
    expect(await names({ search: 'EXAMPLE live' }, liveKey)).toEqual([liveBank.name]);
    expect(await names({ search: 'nrdl' })).toEqual(['Nordlicht Bank', 'Nordlicht Bank (via GoCardless)']);
    expect(await names({ capability: 'FASTER_PAYMENTS' })).toEqual(['Thames & Harbour Bank']);
    expect(await names({ country: 'FR', capability: 'FASTER_PAYMENTS' })).toEqual([]);
  });

  it('pages with cursors and refetches an institution by its global id', async () => {
    const all = await names({});
    const first = (await t.gql<List>(LIST, { first: 2 }, sandboxKey)).body.data!.institutions;
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = await names({ first: 100, after: first.pageInfo.endCursor });
    expect([...first.nodes.map((n) => n.name), ...rest]).toEqual(all);
    const node = await t.gql('query($id: ID!) { node(id: $id) { ... on Institution { name bic } } }', { id: first.nodes[0]!.id }, sandboxKey);
    expect(node.body.data).toEqual({ node: { name: first.nodes[0]!.name, bic: expect.any(String) } });
    // A sandbox institution is not visible to a live key.
    expect((await t.gql('query($id: ID!) { node(id: $id) { id } }', { id: first.nodes[0]!.id }, liveKey)).body.data).toEqual({ node: null });
  });

  it.each([
    ['a country that is not two letters', { country: 'Germany' }],
    ['a search longer than 100 characters', { search: 'x'.repeat(101) }],
    ['a cursor that names no institution', { after: Buffer.from(JSON.stringify(['Institution', 'nope'])).toString('base64url') }],
  ])('refuses %s with BAD_USER_INPUT', async (_l, vars) => {
    expect((await t.gql(LIST, vars, sandboxKey)).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('the live institutions file', () => {
  it('ships valid, and names the entry and field of a bad one', () => {
    expect(loadInstitutionsFile(path.resolve(import.meta.dirname, '../../data/institutions.json'))).toEqual(expect.any(Array));
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ institutions: [{ ...liveBank, aisBaseUrl: 'http://plain.example.test', frequencyPerDay: 9 }] }));
    expect(() => loadInstitutionsFile(bad)).toThrow(/institutions\.0\.aisBaseUrl: live institutions must use https.*institutions\.0\.frequencyPerDay/);
  });
});

describe('consentCreate against what a live institution offers', () => {
  it('refuses a scope the bank does not offer before any bank call, and keeps no consent', async () => {
    const narrow = path.join(dir, 'narrow.json');
    fs.writeFileSync(narrow, JSON.stringify({ institutions: [{ ...liveBank, id: 'accounts-only', name: 'Accounts Only Bank', scopes: ['ACCOUNTS'] }] }));
    const g = await startTestGateway({ env: { INSTITUTIONS_FILE: narrow } });
    try {
      const { key } = await g.createTenant('Live app', 'live');
      await g.gql('mutation { redirectUriAdd(input: { uri: "https://app.example.com/back" }) { userErrors { code } } }', {}, key);
      const user = await g.gql<{ endUserCreate: { endUser: { id: string } } }>(
        'mutation { endUserCreate(input: { externalRef: "u1" }) { endUser { id } } }',
        {},
        key,
      );
      const inst = await g.gql<{ institutions: { nodes: { id: string }[] } }>('{ institutions { nodes { id } } }', {}, key);
      const r = await g.gql<{ consentCreate: { consent: null; userErrors: { field: string[]; code: string }[] } }>(
        'mutation($input: ConsentCreateInput!) { consentCreate(input: $input) { consent { id } userErrors { field code } } }',
        {
          input: {
            endUserId: user.body.data!.endUserCreate.endUser.id,
            institutionId: inst.body.data!.institutions.nodes[0]!.id,
            scopes: ['ACCOUNTS', 'TRANSACTIONS'],
            redirectUri: 'https://app.example.com/back',
          },
        },
        key,
      );
      expect(r.body.data!.consentCreate).toEqual({ consent: null, userErrors: [{ field: ['input', 'scopes'], code: 'NOT_SUPPORTED' }] });
      expect((await g.gql<{ consents: { nodes: unknown[] } }>('{ consents { nodes { id } } }', {}, key)).body.data!.consents.nodes).toEqual([]);
      // No bank was called: the audit journal has no BANK_CALL.
      expect(
        (await g.gql<{ auditEvents: { nodes: unknown[] } }>('{ auditEvents(action: BANK_CALL) { nodes { id } } }', {}, key)).body.data!.auditEvents.nodes,
      ).toEqual([]);
    } finally {
      await g.close();
    }
  });
});
