import type { TestGateway } from './gateway';
import { debtorIbanAt } from './banking';
import { makeCa, type TestCa } from './certificates';

export type UserErrors = { field: string[]; code: string; message: string }[];

/** The `data` of a GraphQL answer; anything else (top-level errors) fails the test with the whole body. */
export async function gqlData<T>(t: TestGateway, key: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const r = await t.gql<T>(query, variables, key);
  if (!r.body.data) throw new Error(JSON.stringify(r.body));
  return r.body.data;
}

/** A tenant with one SME end user, Alice's account at Nordlicht as its debtor account, and a CA it trusts for its approvers. */
export async function smeTenant(
  t: TestGateway,
  name: string,
  externalRef: string,
): Promise<{ key: string; tenantId: string; endUserId: string; debtor: string; ca: TestCa }> {
  const { key, tenantId } = await t.createTenant(name);
  const created = await gqlData<{ endUserCreate: { endUser: { id: string } } }>(
    t,
    key,
    'mutation($ref: String!) { endUserCreate(input: { externalRef: $ref }) { endUser { id } } }',
    { ref: externalRef },
  );
  const debtor = await debtorIbanAt(t, 'nordlicht', 'alice', tenantId);
  const ca = await makeCa();
  const added = await gqlData<{ approvalCaCertificateAdd: { userErrors: UserErrors } }>(
    t,
    key,
    'mutation($c: String!) { approvalCaCertificateAdd(input: { certificate: $c }) { userErrors { field code message } } }',
    { c: ca.pem },
  );
  if (added.approvalCaCertificateAdd.userErrors.length) throw new Error(JSON.stringify(added.approvalCaCertificateAdd.userErrors));
  return { key, tenantId, endUserId: created.endUserCreate.endUser.id, debtor, ca };
}
