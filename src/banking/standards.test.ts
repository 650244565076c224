import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAdapterRegistry } from './adapters/registry';
import { credentialProblems } from './credentials';
import { BankConsentInvalid, BankInvalidRequest } from './errors';
import { createBankHttpClient } from './http';
import { json, startScriptedServer, type ScriptedServer } from './http/test-server';
import type { InstitutionDescriptor } from './model';
import { InstitutionsFileError, loadLiveInstitutions } from './registry';
import { standards, UnknownStandardError, type StandardDefinition } from './standards';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Source files of src/ and sandbox/ (tests and test support apart: they may name the standard they exercise). */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'testing') out.push(...sourceFiles(full));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      out.push(full);
    }
  }
  return out;
}

/** The folders of a standard: those whose `*.standard.ts` declares it (its adapter folder, its sandbox folder). */
function foldersOf(id: string, files: string[]): string[] {
  const folders = files.filter((f) => f.endsWith('.standard.ts') && fs.readFileSync(f, 'utf8').includes(`id: '${id}'`)).map((f) => path.dirname(f) + path.sep);
  // An upstream aggregator's sandbox is an upstream (sandbox/upstreams/), not a bank standard.
  if (standards.get(id).reach) folders.push(path.join(ROOT, 'sandbox', 'upstreams') + path.sep);
  return folders;
}

describe('the registry of standards', () => {
  it('is the only list: no source file outside a standard’s own folders names its id', () => {
    const files = [...sourceFiles(path.join(ROOT, 'src')), ...sourceFiles(path.join(ROOT, 'sandbox'))];
    const offenders: string[] = [];
    for (const id of standards.ids()) {
      const own = foldersOf(id, files);
      expect(own.length, `${id} has an adapter folder with a ${id} *.standard.ts`).toBeGreaterThan(0);
      const literal = new RegExp(`['"\`]${id}['"\`]`);
      for (const file of files) {
        if (own.some((folder) => file.startsWith(folder))) continue;
        if (literal.test(fs.readFileSync(file, 'utf8'))) offenders.push(`${path.relative(ROOT, file)} names ${id}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('refuses an institution of a standard it does not have instead of reading it as another one', () => {
    expect(() => standards.get('NOT_A_STANDARD')).toThrow(UnknownStandardError);
    const adapters = createAdapterRegistry({
      credentials: () => ({ clientId: 'c', clientSecret: 's' }),
      logger: pino({ level: 'silent' }),
      callbackUrl: 'https://gw.example/callback',
    });
    expect(() => adapters.for({ ...institution('mystery'), standard: 'NOT_A_STANDARD' })).toThrow(/Unknown standard "NOT_A_STANDARD"/);
    const file = writeInstitutions([{ ...fileEntry('mystery'), standard: 'NOT_A_STANDARD' }]);
    expect(() => loadLiveInstitutions(file)).toThrow(InstitutionsFileError);
    expect(() => loadLiveInstitutions(file)).toThrow(/institutions\.0\.standard: one of the standards of the registry/);
  });

  it('refuses two standards with one id, and an id that cannot be a GraphQL enum value', () => {
    expect(() => standards.with(acme('BERLIN_GROUP'))).toThrow(/registered twice/);
    expect(() => standards.with(acme('acme-api'))).toThrow(/upper case/);
  });
});

describe('a fifth standard, registered in the registry alone', () => {
  let server: ScriptedServer;
  const ACME = acme('ACME_API');
  const registry = standards.with(ACME);

  beforeAll(async () => {
    server = await startScriptedServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('is read from the institutions file, and refused there by the registry that does not have it', () => {
    const file = writeInstitutions([{ ...fileEntry('acme-bank'), standard: 'ACME_API' }]);
    expect(loadLiveInstitutions(file, registry).institutions.map((i) => [i.id, i.standard])).toEqual([['acme-bank', 'ACME_API']]);
    expect(() => loadLiveInstitutions(file)).toThrow(/institutions\.0\.standard/);
  });

  it('has its own credential rules checked beside the generic ones', () => {
    const entry = { clientId: 'acme-client', tokenEndpointAuthMethod: 'tls_client_auth' as const, qwac: { certFile: 'q.pem', keyFile: 'q.key' } };
    expect(credentialProblems('ACME_API', entry, registry)).toEqual([{ path: ['qseal'], message: 'ACME signs every request: qseal is required' }]);
    expect(credentialProblems('ACME_API', { ...entry, jws: { keyFile: 'j.key', kid: 'k', iss: 'i' } } as never, registry)).toContainEqual({
      path: ['jws'],
      message: 'x-jws-signature is sent to UK Open Banking banks only',
    });
  });

  it('dresses and signs every call its own way through the generic HTTP client, and its errors are read its own way', async () => {
    const client = createBankHttpClient({
      institutionId: 'acme-bank',
      baseUrl: server.origin,
      allowInsecureRequests: true,
      maxRetries: 0,
      protocol: ACME.protocol,
      signer: ACME.protocol.signer('acme-bank', {}),
    });
    server.script(json(200, { ok: true }));
    await client.request({
      operation: 'accounts.list',
      method: 'POST',
      path: '/v1/accounts',
      body: { page: 1 },
      psuIpAddress: '203.0.113.7',
      schema: z.object({ ok: z.boolean() }),
    });
    const [sent] = server.received.splice(0);
    expect(sent!.headers.accept).toBe('application/vnd.acme+json');
    expect(sent!.headers['acme-interaction']).toBe(sent!.headers['x-request-id']);
    expect(sent!.headers['acme-customer-ip']).toBe('203.0.113.7');
    expect(sent!.headers['psu-ip-address']).toBeUndefined();
    expect(sent!.headers['acme-signature']).toBe(acmeSignature('POST', '/v1/accounts', sent!.body));

    // Its banks put the code in `fault.reason`, and a 403 without a code means the consent is gone.
    server.script(json(400, { fault: { reason: 'CONSENT_REVOKED' } }), json(403, {}), json(403, {}));
    const codes = await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: z.object({}) }).catch((e: unknown) => e);
    expect(codes).toBeInstanceOf(BankConsentInvalid);
    expect((codes as BankConsentInvalid).bankCode).toBe('CONSENT_REVOKED');
    const bare = await client.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: z.object({}) }).catch((e: unknown) => e);
    expect(bare).toBeInstanceOf(BankConsentInvalid);
    // The same answer from a bank of a standard that does not say so is a refused request.
    const plain = createBankHttpClient({
      institutionId: 'other',
      baseUrl: server.origin,
      allowInsecureRequests: true,
      maxRetries: 0,
      protocol: { ...ACME.protocol, errors: { readCodes: ACME.protocol.errors.readCodes } },
    });
    const refused = await plain.request({ operation: 'accounts.list', method: 'GET', path: '/v1/accounts', schema: z.object({}) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BankInvalidRequest);
  });

  it('gets its adapters from its own factory', () => {
    const built: string[] = [];
    const withFactory = standards.with({
      ...acme('ACME_API'),
      createAdapter: (deps) => {
        built.push(deps.institution.id);
        return standards.get('BERLIN_GROUP').createAdapter(deps);
      },
    });
    const adapters = createAdapterRegistry({
      credentials: () => ({ clientId: 'c', clientSecret: 's' }),
      logger: pino({ level: 'silent' }),
      callbackUrl: 'https://gw.example/callback',
      standards: withFactory,
    });
    adapters.for({ ...institution('acme-bank'), standard: 'ACME_API' });
    expect(built).toEqual(['acme-bank']);
  });
});

const ACME_KEY = 'acme-test-signing-key';

function acmeSignature(method: string, pathname: string, body: string | undefined): string {
  return createHmac('sha256', ACME_KEY)
    .update(`${method} ${pathname}\n${body ?? ''}`)
    .digest('base64url');
}

/** A made-up standard, complete as far as generic code is concerned. */
function acme(id: string): StandardDefinition {
  return {
    id,
    displayName: 'ACME',
    createAdapter: () => {
      throw new Error('ACME speaks to no real bank');
    },
    protocol: {
      accept: 'application/vnd.acme+json',
      headers: ({ requestId, psuIpAddress }) => ({ 'Acme-Interaction': requestId, ...(psuIpAddress ? { 'Acme-Customer-Ip': psuIpAddress } : {}) }),
      signer: () => ({ sign: ({ method, url, headers, body }) => headers.set('Acme-Signature', acmeSignature(method, url.pathname, body)) }),
      errors: {
        readCodes: (body) => {
          const reason = (body.fault as { reason?: unknown } | undefined)?.reason;
          return typeof reason === 'string' ? [reason] : [];
        },
        forbiddenMeansConsentInvalid: true,
      },
    },
    liveCredentials: {
      check(entry, problem) {
        if (!entry.qseal) problem(['qseal'], 'ACME signs every request: qseal is required');
      },
      sendsQSealCertificate: false,
      takesRequestObjects: false,
    },
  };
}

function fileEntry(id: string) {
  return {
    id,
    name: 'Acme Bank',
    bic: 'ACMEDEFFXXX',
    country: 'DE',
    standardVersion: '1.0',
    aisBaseUrl: 'https://api.acme.example/ais',
    pisBaseUrl: 'https://api.acme.example/pis',
    issuer: 'https://auth.acme.example',
    scopes: ['ACCOUNTS'],
    scaApproaches: ['REDIRECT'],
    maxConsentDays: 90,
    maxHistoryDays: 365,
    frequencyPerDay: 4,
  };
}

function writeInstitutions(institutions: unknown[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'standards-'));
  const file = path.join(dir, 'institutions.json');
  fs.writeFileSync(file, JSON.stringify({ institutions }));
  return file;
}

function institution(id: string): InstitutionDescriptor {
  const { standardVersion, ...rest } = fileEntry(id);
  return {
    ...rest,
    standard: 'ACME_API',
    standardVersion,
    logoUrl: null,
    environment: 'live',
    scopes: ['ACCOUNTS'],
    paymentSchemes: [],
    paymentProducts: [],
    scaApproaches: ['REDIRECT'],
    quirks: {},
  };
}
