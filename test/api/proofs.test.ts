import { withTenant } from '../../src/platform/tenant-scope';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CompactSign, importPKCS8 } from 'jose';
import forge from 'node-forge';
import { parseGlobalId, toGlobalId } from '../../src/api/relay/global-id';
import type { ProofInput } from '../../src/modules/proofs/proof';
import { canonicalJson, linkText, sha256Hex, GENESIS_SHA256 } from '../../src/modules/proofs/proof';
import { ProofsService } from '../../src/modules/proofs/proofs.service';
import { createLogger } from '../../src/platform/logger';
import { authorise, connect, control, debtorIbanAt, institutionGid, RETURN_URL } from '../helpers/banking';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passerelle-proofs-'));

/** `npm run proof:verify -- FILE [--jwks JWKS]` as a separate process: its output and exit code. */
async function proofVerify(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/proof-verify.ts', ...args], {
      cwd: path.resolve(import.meta.dirname, '../..'),
    });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

let t: TestGateway;
let key: string;
let tenantId: string;
let endUserId: string;

beforeAll(async () => {
  t = await startTestGateway();
  ({ key, tenantId } = await t.createTenant('Proving'));
  const u = await t.gql<{ endUserCreate: { endUser: { id: string } } }>(
    'mutation { endUserCreate(input: { externalRef: "prover-1" }) { endUser { id } } }',
    {},
    key,
  );
  endUserId = u.body.data!.endUserCreate.endUser.id;
});
afterAll(async () => {
  await t?.close();
});

const approval = (n: number, tenant = tenantId): ProofInput => ({
  tenantId: tenant,
  subject: { kind: 'PAYMENT', id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` },
  event: 'PAYMENT_APPROVED',
  actor: { kind: 'MEMBER', id: `member-${n}`, name: 'Ada Approver' },
  authMethod: { kind: 'PASSKEY', credentialId: `cred-${n}` },
  document: { type: 'PaymentApproval', n, amount: '10.00', currency: 'EUR' },
});

type Row = { id: string; seq: string; body: string; body_sha256: string; prev_sha256: string; record_sha256: string };
const chainOf = async (tenant: string) =>
  (
    await t.gateway.db.sql.query<Row>(
      'select id, seq::text as seq, body, body_sha256, prev_sha256, record_sha256 from proof_record where tenant_id = $1 order by proof_record.seq',
      [tenant],
    )
  ).rows;

describe('the proof chain', () => {
  it('gives 20 concurrent appends of one tenant one unbroken chain, each record hashing its canonical body and the previous record', async () => {
    const other = await t.createTenant('Other');
    const appended = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => t.gateway.services.proofs.append(approval(i))),
      ...Array.from({ length: 5 }, (_, i) => t.gateway.services.proofs.append(approval(i, other.tenantId))),
    ]);
    expect(new Set(appended.map((a) => a.id)).size).toBe(25);
    for (const [tenant, length] of [
      [tenantId, 20],
      [other.tenantId, 5],
    ] as const) {
      const rows = await chainOf(tenant);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length }, (_, i) => String(i + 1)));
      let prev = GENESIS_SHA256;
      for (const r of rows) {
        expect(r.prev_sha256).toBe(prev);
        expect(r.body_sha256).toBe(sha256Hex(r.body));
        expect(r.record_sha256).toBe(sha256Hex(linkText(r.body_sha256, r.prev_sha256, r.seq)));
        prev = r.record_sha256;
      }
    }
  });

  it('refuses to update a record, to delete one still within its retention, and to truncate the table', async () => {
    const [first] = await chainOf(tenantId);
    await expect(t.gateway.db.sql.query(`update proof_record set body = body || ' ' where id = $1`, [first!.id])).rejects.toThrow(
      /never changed \(UPDATE refused\)/,
    );
    await expect(t.gateway.db.sql.query('delete from proof_record where id = $1', [first!.id])).rejects.toThrow(/never changed \(DELETE refused\)/);
    await expect(t.gateway.db.sql.query('truncate proof_record')).rejects.toThrow(/never changed \(TRUNCATE refused\)/);
    expect((await chainOf(tenantId))[0]).toEqual(first);
  });

  it('holds appends of the tenant while a transaction holds its chain lock, and lets them through once it commits', async () => {
    const client = await t.gateway.db.sql.connect();
    let appended = false;
    try {
      await client.query('begin');
      await t.gateway.services.proofs.lockChain(tenantId, client);
      const waiting = t.gateway.services.proofs.append(approval(50)).then((a) => ((appended = true), a));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(appended).toBe(false);
      const mine = await t.gateway.services.proofs.append(approval(51), client);
      await client.query('commit');
      const theirs = await waiting;
      expect(Number(theirs.seq)).toBe(Number(mine.seq) + 1);
      expect(theirs.prevSha256).toBe(mine.recordSha256);
    } finally {
      client.release();
    }
  });

  it('commits a record with the transaction it is appended in, and leaves no gap in the chain when that transaction rolls back', async () => {
    const before = (await chainOf(tenantId)).length;
    // As the gateway's own callers do: inside the tenant's database scope (row-level security).
    await withTenant(tenantId, async () => {
      const client = await t.gateway.db.sql.connect();
      try {
        await client.query('begin');
        await t.gateway.services.proofs.append(approval(99), client);
        await client.query('rollback');
      } finally {
        client.release();
      }
      const em = t.gateway.db.orm.em.fork();
      await em.transactional(async (tx) => {
        await t.gateway.services.proofs.append(approval(100), tx);
      });
    });
    const rows = await chainOf(tenantId);
    expect(rows.length).toBe(before + 1);
    expect(rows.at(-1)!.seq).toBe(String(before + 1));
    expect(JSON.parse(rows.at(-1)!.body).document.n).toBe(100);
  });
});

const RECORD_FIELDS = `id seq event subjectKind subjectId endUserId applicationId actor { kind id name }
  authMethod { kind institutionId scaApproach certificateSubject certificateSerial certificateIssuer credentialId apiKeyId }
  document documentSha256 signature occurredAt createdAt retainUntil canonical bodySha256 prevSha256 recordSha256`;
type RecordView = {
  id: string;
  seq: string;
  event: string;
  subjectKind: string;
  subjectId: string;
  endUserId: string | null;
  applicationId: string | null;
  actor: { kind: string; id: string; name: string | null };
  authMethod: { kind: string; institutionId: string | null; scaApproach: string | null; apiKeyId: string | null };
  document: Record<string, unknown>;
  documentSha256: string;
  signature: Record<string, unknown> | null;
  createdAt: string;
  retainUntil: string;
  canonical: string;
  bodySha256: string;
  prevSha256: string;
  recordSha256: string;
};

async function proofsOf(subjectId: string): Promise<RecordView[]> {
  const r = await t.gql<{ proofs: { nodes: RecordView[] } }>(
    `query($s: ID!) { proofs(subjectId: $s, first: 100) { nodes { ${RECORD_FIELDS} } } }`,
    { s: subjectId },
    key,
  );
  if (!r.body.data) throw new Error(JSON.stringify(r.body));
  return r.body.data.proofs.nodes;
}

async function exportOf(id: string, file: string, apiKey = key): Promise<{ fileName: string; jwksUrl: string; content: string }> {
  const r = await t.gql<{ proofExport: { fileName: string; jwksUrl: string; content: string } }>(
    'query($id: ID!) { proofExport(id: $id) { fileName jwksUrl content } }',
    { id },
    apiKey,
  );
  if (!r.body.data?.proofExport) throw new Error(JSON.stringify(r.body));
  fs.writeFileSync(path.join(dir, file), r.body.data.proofExport.content);
  return r.body.data.proofExport;
}

async function untilStatus(id: string, wanted: string, timeoutMs = 45_000) {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const r = await t.gql<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { ... on Payment { status } } }', { id }, key);
    if (r.body.data!.node.status === wanted) return;
    if (Date.now() > deadline) throw new Error(`payment stayed ${r.body.data!.node.status}, wanted ${wanted}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('proofs of what the end user authorised at the bank', () => {
  let paymentId: string;

  it('records the consent authorisation after the end user’s SCA at the bank, with the bank and the SCA approach', async () => {
    const { consentId } = await connect(t, key, endUserId, 'nordlicht');
    const [proof, ...more] = await proofsOf(consentId);
    expect(more).toEqual([]);
    expect(proof).toMatchObject({
      event: 'CONSENT_AUTHORISED',
      subjectKind: 'CONSENT',
      subjectId: consentId,
      endUserId,
      actor: { kind: 'END_USER', id: endUserId },
      authMethod: { kind: 'BANK_SCA', institutionId: institutionGid('nordlicht'), scaApproach: 'REDIRECT' },
      signature: null,
    });
    expect(proof!.document).toMatchObject({
      type: 'ConsentAuthorisation',
      consentId: parseGlobalId(consentId)!.id,
      scopes: ['ACCOUNTS', 'BALANCES', 'TRANSACTIONS'],
      renewal: false,
    });
    expect(proof!.documentSha256).toBe(sha256Hex(canonicalJson(proof!.document)));
    expect(proof!.bodySha256).toBe(sha256Hex(proof!.canonical));
    // Kept for PROOF_RETENTION_YEARS (10 by default).
    expect(new Date(proof!.retainUntil).getUTCFullYear() - new Date(proof!.createdAt).getUTCFullYear()).toBe(10);
    expect(proof!.canonical).not.toMatch(/token|secret/i);
  }, 60_000);

  it('records every status change of a payment, each in the order the payment went through them', async () => {
    const debtor = await debtorIbanAt(t, 'nordlicht');
    const r = await t.gql<{ paymentInitiate: { payment: { id: string }; authorizationUrl: string } }>(
      `mutation($input: PaymentInitiateInput!) { paymentInitiate(input: $input, idempotencyKey: "proof-pay-1") { payment { id } authorizationUrl userErrors { code message } } }`,
      {
        input: {
          institutionId: institutionGid('nordlicht'),
          endUserId,
          scheme: 'SEPA_CREDIT_TRANSFER',
          debtorAccount: { iban: debtor },
          creditor: { name: 'Keller Bau GmbH', iban: 'FR1420041010050500013M02606' },
          amount: { amount: '12.30', currency: 'EUR' },
          remittanceInformation: 'Invoice 2026-114',
          redirectUri: RETURN_URL,
        },
      },
      key,
    );
    paymentId = r.body.data!.paymentInitiate.payment.id;
    const back = await authorise(t, r.body.data!.paymentInitiate.authorizationUrl, 'alice');
    expect(back.searchParams.get('outcome')).toBe('success');
    await control(t, 'POST', '/banks/nordlicht/clock/advance', { seconds: 61 });
    await untilStatus(paymentId, 'EXECUTED');

    const proofs = await proofsOf(paymentId);
    // An event is readable once older transactions on the server have ended: ask until the terminal one is.
    let statuses: string[] = [];
    for (
      const deadline = Date.now() + 15_000;
      statuses.at(-1) !== 'EXECUTED' && Date.now() < deadline;
      await new Promise((resolve) => setTimeout(resolve, 100))
    ) {
      const events = await t.gql<{ events: { nodes: { payload: { paymentId: string; status: string } }[] } }>(
        '{ events(first: 500, types: [PAYMENT_STATUS_CHANGED]) { nodes { payload } } }',
        {},
        key,
      );
      statuses = events.body.data!.events.nodes.filter((e) => e.payload.paymentId === paymentId).map((e) => e.payload.status);
    }
    expect(proofs.map((p) => p.document.to)).toEqual(statuses);
    expect(proofs.at(-1)!.document).toMatchObject({
      type: 'PaymentStatusChange',
      to: 'EXECUTED',
      terminal: true,
      payment: { amount: '12.30', currency: 'EUR', creditorIban: 'FR1420041010050500013M02606' },
    });
    expect(proofs.every((p) => p.event === 'PAYMENT_STATUS_CHANGED' && p.subjectId === paymentId && p.endUserId === endUserId)).toBe(true);
    // The end user's return from SCA is theirs; the first status is the initiating API key's; later ones the bank reported to the poll.
    expect(proofs[0]).toMatchObject({ actor: { kind: 'API_KEY' }, authMethod: { kind: 'API_KEY' } });
    expect(proofs[0]!.applicationId).toBe(proofs[0]!.actor.id);
    expect(
      proofs.some((p) => p.actor.kind === 'END_USER' && p.authMethod.kind === 'BANK_SCA' && p.authMethod.institutionId === institutionGid('nordlicht')),
    ).toBe(true);
  }, 90_000);

  it('returns a record with its chain path to the head, each link naming the previous one’s hash', async () => {
    const [first] = await proofsOf(paymentId);
    const r = await t.gql<{
      proof: {
        record: RecordView;
        chainPath: { id: string; seq: string; prevSha256: string; recordSha256: string; bodySha256: string }[];
        chainPathComplete: boolean;
        headSeq: string;
      };
    }>(
      `query($id: ID!) { proof(id: $id, pathFirst: 1000) { record { ${RECORD_FIELDS} } chainPath { id seq bodySha256 prevSha256 recordSha256 } chainPathComplete headSeq } }`,
      { id: first!.id },
      key,
    );
    const { record, chainPath, chainPathComplete, headSeq } = r.body.data!.proof;
    expect(record).toEqual(first);
    expect(chainPath[0]).toMatchObject({ id: first!.id, seq: first!.seq, recordSha256: first!.recordSha256 });
    expect(chainPathComplete).toBe(true);
    expect(chainPath.at(-1)!.seq).toBe(headSeq);
    for (let i = 1; i < chainPath.length; i++) {
      expect(chainPath[i]!.seq).toBe(String(Number(chainPath[i - 1]!.seq) + 1));
      expect(chainPath[i]!.prevSha256).toBe(chainPath[i - 1]!.recordSha256);
    }
    // A page of the path, and another tenant sees nothing.
    const short = await t.gql<{ proof: { chainPath: unknown[]; chainPathComplete: boolean } }>(
      'query($id: ID!) { proof(id: $id, pathFirst: 1) { chainPath { seq } chainPathComplete } }',
      { id: first!.id },
      key,
    );
    expect(short.body.data!.proof).toEqual({ chainPath: [{ seq: first!.seq }], chainPathComplete: false });
    const other = await t.createTenant('Stranger');
    const theirs = await t.gql<{ proof: unknown; proofExport: unknown }>(
      'query($id: ID!) { proof(id: $id) { headSeq } proofExport(id: $id) { fileName } }',
      { id: first!.id },
      other.key,
    );
    expect(theirs.body.data).toEqual({ proof: null, proofExport: null });
  });

  it('refuses a path length out of range and ids that are not proof records or payments', async () => {
    const [first] = await proofsOf(paymentId);
    const bad = await t.gql('query($id: ID!) { proof(id: $id, pathFirst: 1001) { headSeq } }', { id: first!.id }, key);
    expect(bad.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    const notProof = await t.gql('query($id: ID!) { proof(id: $id) { headSeq } }', { id: paymentId }, key);
    expect(notProof.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    const notSubject = await t.gql('query($id: ID!) { proofs(subjectId: $id) { nodes { id } } }', { id: first!.id }, key);
    expect(notSubject.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('exports a proof that npm run proof:verify finds intact offline, against the key the gateway publishes', async () => {
    const [first] = await proofsOf(paymentId);
    const exported = await exportOf(first!.id, 'intact.json');
    expect(exported.fileName).toBe(`proof-${parseGlobalId(first!.id)!.id}.json`);
    const jwks = await fetch(exported.jwksUrl.replace(t.gateway.publicUrl, t.gateway.baseUrl));
    expect(jwks.status).toBe(200);
    const set = (await jwks.json()) as { keys: { kty: string; crv: string; d?: string }[] };
    expect(set.keys).toHaveLength(1);
    expect(set.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(set.keys[0]!.d).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(set));

    const ok = await proofVerify(path.join(dir, 'intact.json'), '--jwks', path.join(dir, 'jwks.json'));
    expect(ok.out).toMatch(/^OK: record /);
    expect(ok.out).toContain('(found in the given JWKS)');
    expect(ok.code).toBe(0);
    expect((await fetch(`${t.gateway.baseUrl}/proofs/keys/${'A'.repeat(43)}`)).status).toBe(404);
  }, 60_000);

  it('names the exported record whose content was edited in the file, and fails an anchor signed by another key', async () => {
    const proofs = await proofsOf(paymentId);
    const file = JSON.parse(fs.readFileSync(path.join(dir, 'intact.json'), 'utf8')) as {
      path: { id: string; seq: string; body: string }[];
      anchor: { jwk: Record<string, string> };
    };
    const at = file.path.findIndex((l, i) => i > 0 && l.body.includes('"12.30"'));
    const victim = file.path[at]!;
    const edited = structuredClone(file);
    edited.path[at]!.body = victim.body.replace('"12.30"', '"99.30"');
    expect(edited.path[at]!.body).not.toBe(victim.body);
    fs.writeFileSync(path.join(dir, 'edited.json'), JSON.stringify(edited));
    const broken = await proofVerify(path.join(dir, 'edited.json'));
    expect(broken.code).toBe(1);
    expect(broken.out).toBe(`BROKEN at seq ${victim.seq} (record ${victim.id}): its body does not hash to its bodySha256: the record was altered\n`);
    expect(proofs.length).toBeGreaterThan(2);

    const otherKey = structuredClone(file);
    otherKey.anchor.jwk = { ...otherKey.anchor.jwk, x: otherKey.anchor.jwk.y!, y: otherKey.anchor.jwk.x! };
    fs.writeFileSync(path.join(dir, 'other-key.json'), JSON.stringify(otherKey));
    const anchor = await proofVerify(path.join(dir, 'other-key.json'));
    expect(anchor.code).toBe(1);
    expect(anchor.out).toMatch(/^BROKEN at seq \d+ .*: the anchor fails: its key does not match its kid/);
  }, 60_000);

  it('fails verification at exactly the stored record that was edited in the database', async () => {
    const proofs = await proofsOf(paymentId);
    const victim = proofs[1]!;
    // As the database superuser, around the trigger that refuses every UPDATE.
    await t.gateway.db.sql.query('alter table proof_record disable trigger proof_record_immutable');
    try {
      await t.gateway.db.sql.query(`update proof_record set body = replace(body, '"Keller Bau GmbH"', '"Mallory Ltd"') where id = $1`, [
        parseGlobalId(victim.id)!.id,
      ]);
    } finally {
      await t.gateway.db.sql.query('alter table proof_record enable trigger proof_record_immutable');
    }
    await exportOf(proofs[0]!.id, 'tampered.json');
    const r = await proofVerify(path.join(dir, 'tampered.json'));
    expect(r.code).toBe(1);
    expect(r.out).toBe(
      `BROKEN at seq ${victim.seq} (record ${parseGlobalId(victim.id)!.id}): its body does not hash to its bodySha256: the record was altered\n`,
    );
    // The chain after it is untouched: an export from the next record is intact.
    await exportOf(proofs[2]!.id, 'after.json');
    expect((await proofVerify(path.join(dir, 'after.json'))).code).toBe(0);
  }, 60_000);
});

describe('signed approvals', () => {
  it('verifies a passkey (WebAuthn) assertion over the document offline, and names the record whose signature was swapped', async () => {
    const document = { type: 'PaymentApproval', paymentId: '00000000-0000-4000-8000-0000000000aa', amount: '1500.00', currency: 'EUR' };
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const challenge = createHash('sha256').update(canonicalJson(document)).digest().toString('base64url');
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: 'https://app.example' }));
    const authenticatorData = Buffer.concat([createHash('sha256').update('app.example').digest(), Buffer.from([0x05, 0, 0, 0, 7])]);
    const signature = sign('sha256', Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]), privateKey);
    const webauthn = {
      format: 'WEBAUTHN' as const,
      value: signature.toString('base64url'),
      authenticatorData: authenticatorData.toString('base64url'),
      clientDataJSON: clientDataJSON.toString('base64url'),
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64url'),
    };
    const good = await t.gateway.services.proofs.append({ ...approval(500), document, signature: webauthn });
    await exportOf(toGlobalId('ProofRecord', good.id), 'passkey.json');
    const ok = await proofVerify(path.join(dir, 'passkey.json'));
    expect(ok.out).toContain('actor signatures: 1 verified, 0 not checkable offline.');
    expect(ok.code).toBe(0);

    // The same assertion recorded under another document (a larger amount) does not prove it.
    const forged = await t.gateway.services.proofs.append({ ...approval(501), document: { ...document, amount: '9500.00' }, signature: webauthn });
    await exportOf(toGlobalId('ProofRecord', good.id), 'passkey-forged.json');
    const broken = await proofVerify(path.join(dir, 'passkey-forged.json'));
    expect(broken.code).toBe(1);
    expect(broken.out).toBe(`BROKEN at seq ${forged.seq} (record ${forged.id}): the actor's signature fails: its challenge is not the document hash\n`);
  });
});

/** A self-signed signing certificate (RSA) and its private key, as a qualified certificate would be used. */
function signingCertificate(serial: string) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  const name = [
    { name: 'commonName', value: 'Ada Approver' },
    { name: 'organizationName', value: 'Proving GmbH' },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(forge.pki.privateKeyFromPem(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()), forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary').toString('base64');
  return { der, privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

describe('npm run proof:verify on bad input', () => {
  it('answers usage for no file, an unreadable file and a non-JSON file with exit 64, and names a JSON file that is no export', async () => {
    const none = await proofVerify();
    expect(none).toMatchObject({ code: 64 });
    expect(none.out).toContain('usage: npm run proof:verify -- FILE');
    expect((await proofVerify(path.join(dir, 'missing.json'))).code).toBe(64);
    fs.writeFileSync(path.join(dir, 'garbage.json'), 'not json');
    expect((await proofVerify(path.join(dir, 'garbage.json'))).code).toBe(64);
    fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify({ format: 'something-else', path: [] }));
    const other = await proofVerify(path.join(dir, 'other.json'));
    expect(other.code).toBe(1);
    expect(other.out).toMatch(/^BROKEN at the file: not a proof export: format /);
  }, 60_000);
});

describe('certificate-signed approvals', () => {
  it('verifies a JWS by the approver’s certificate (x5c) over the document offline, attached or detached, and refuses one recorded under another certificate serial', async () => {
    const document = { type: 'PaymentApproval', paymentId: '00000000-0000-4000-8000-0000000000bb', amount: '2500.00', currency: 'EUR' };
    const { der, privateKeyPem } = signingCertificate('0a1b2c3d');
    const key = await importPKCS8(privateKeyPem, 'RS256');
    const header = { alg: 'RS256', x5c: [der] };
    const attached = await new CompactSign(new TextEncoder().encode(canonicalJson(document))).setProtectedHeader(header).sign(key);
    const [h, , sig] = attached.split('.');
    const detached = `${h}..${sig}`;
    const byCertificate = (serial: string) => ({
      kind: 'CERTIFICATE' as const,
      subject: 'CN=Ada Approver,O=Proving GmbH',
      serial,
      issuer: 'CN=Ada Approver,O=Proving GmbH',
    });
    const first = await t.gateway.services.proofs.append({
      ...approval(600),
      document,
      authMethod: byCertificate('0A:1B:2C:3D'),
      signature: { format: 'JWS', value: attached },
    });
    await t.gateway.services.proofs.append({
      ...approval(601),
      document,
      authMethod: byCertificate('0a1b2c3d'),
      signature: { format: 'JWS', value: detached },
    });
    await exportOf(toGlobalId('ProofRecord', first.id), 'certificate.json');
    const ok = await proofVerify(path.join(dir, 'certificate.json'));
    expect(ok.out).toContain('actor signatures: 2 verified, 0 not checkable offline.');
    expect(ok.code).toBe(0);

    const other = await t.gateway.services.proofs.append({
      ...approval(602),
      document,
      authMethod: byCertificate('0a1b2c3e'),
      signature: { format: 'JWS', value: attached },
    });
    await exportOf(toGlobalId('ProofRecord', first.id), 'certificate-other.json');
    const broken = await proofVerify(path.join(dir, 'certificate-other.json'));
    expect(broken.code).toBe(1);
    expect(broken.out).toBe(
      `BROKEN at seq ${other.seq} (record ${other.id}): the actor's signature fails: it is by another certificate than the one recorded (serial)\n`,
    );
  }, 60_000);
});

describe('retention', () => {
  it('purges only the records past their retainUntil, and later records keep chaining to the purged one’s hash', async () => {
    const tenant = await t.createTenant('Retention');
    const expired = new ProofsService({
      sql: t.gateway.db.sql,
      retentionYears: -1,
      vault: t.gateway.services.vault,
      publicUrl: t.gateway.publicUrl,
      jobs: null,
      logger: createLogger('silent'),
    });
    const old = [await expired.append(approval(1, tenant.tenantId)), await expired.append(approval(2, tenant.tenantId))];
    const kept = await t.gateway.services.proofs.append(approval(3, tenant.tenantId));
    // Before the purge, retention still forbids deleting a record within it.
    await expect(t.gateway.db.sql.query('delete from proof_record where id = $1', [kept.id])).rejects.toThrow(/DELETE refused/);
    expect(await t.gateway.services.proofs.purge()).toBe(2);
    const rows = await chainOf(tenant.tenantId);
    expect(rows.map((r) => r.id)).toEqual([kept.id]);
    expect(rows[0]!.prev_sha256).toBe(old[1]!.recordSha256);
    const next = await t.gateway.services.proofs.append(approval(4, tenant.tenantId));
    expect(next).toMatchObject({ seq: '4', prevSha256: kept.recordSha256 });
    // An export from the oldest kept record still verifies: its prevSha256 is taken as given.
    await exportOf(toGlobalId('ProofRecord', kept.id), 'after-purge.json', tenant.key);
    const r = await proofVerify(path.join(dir, 'after-purge.json'));
    expect(r.out).toMatch(/^OK: record .* \(seq 3\) and the chain after it to seq 4 \(2 records\)/);
  });
});
