import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

/**
 * A fault of the gateway itself during a consent start (here the database refusing to keep the
 * attempt, after the bank accepted it) is not the bank's: it is never reported as BANK_ERROR
 * "nothing was kept", but masked with a request id and logged whole.
 */
let t: TestGateway;
let key: string;
let endUserId: string;
let institutionId: string;
const RETURN = 'http://localhost:3999/bank-return';
const FAULT = 'provoked fault: the attempt could not be kept';

const CREATE = `mutation($input: ConsentCreateInput!) {
  consentCreate(input: $input) { consent { id status } authorizationUrl userErrors { field code message } }
}`;
type CreatePayload = {
  consentCreate: {
    consent: { id: string; status: string } | null;
    authorizationUrl: string | null;
    userErrors: { field: string[]; code: string; message: string }[];
  } | null;
};

beforeAll(async () => {
  t = await startTestGateway();
  ({ key } = await t.createTenant('Faulty storage'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "psu-fault" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
  const list = await t.gql<{ institutions: { nodes: { id: string; name: string }[] } }>('{ institutions { nodes { id name } } }', {}, key);
  institutionId = list.body.data!.institutions.nodes.find((i) => i.name === 'Nordlicht Bank')!.id;
});
afterAll(async () => t?.close());

const create = () => t.gql<CreatePayload>(CREATE, { input: { endUserId, institutionId, scopes: ['ACCOUNTS', 'BALANCES'], redirectUri: RETURN } }, key);

describe('a fault of the gateway during a consent start', () => {
  it('is answered as a masked internal error with a request id, not as the bank’s BANK_ERROR, and logged with its message and stack', async () => {
    // A real database failure: storing the bank's attempt (sealed secrets) on the consent row fails.
    await t.gateway.db.sql.query(`create function passerelle_test_fault() returns trigger language plpgsql as $$
      begin raise exception '${FAULT}'; end $$`);
    await t.gateway.db.sql.query(`create trigger passerelle_test_fault before insert or update on consent
      for each row when (new.attempt_secrets is not null) execute function passerelle_test_fault()`);
    try {
      const res = await create();
      const text = JSON.stringify(res.body);
      expect(text).not.toContain('BANK_ERROR');
      expect(text).not.toContain(FAULT);
      const error = res.body.errors?.[0];
      expect(error?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      const requestId = error?.extensions?.requestId as string;
      expect(error?.message).toContain(requestId);
      const logged = t.logs.filter((l) => l.includes(requestId) && l.includes(FAULT));
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.some((l) => l.includes('"stack"'))).toBe(true);
      expect(t.logs.some((l) => l.includes('consent start at the bank failed'))).toBe(false);
    } finally {
      await t.gateway.db.sql.query('drop trigger passerelle_test_fault on consent');
      await t.gateway.db.sql.query('drop function passerelle_test_fault()');
    }
  });

  it('starts once the database keeps the attempt again', async () => {
    const res = await create();
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.consentCreate!.userErrors).toEqual([]);
    expect(res.body.data!.consentCreate!.consent!.status).toBe('PENDING_AUTHORIZATION');
  });
});
