import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Running } from '../../sandbox/testing/harness';
import { README } from '../../test/helpers/readme';
import { createUkObieAdapter } from './adapters/uk-obie/uk-obie.adapter';
import { institutionFileEntry } from './registry';
import { sandboxInstitutions } from './sandbox-institutions';

const entry = {
  id: 'chooser-bank',
  name: 'Chooser Bank',
  bic: 'CHOODEFFXXX',
  country: 'DE',
  standard: 'BERLIN_GROUP',
  standardVersion: '1.3.12',
  aisBaseUrl: 'https://api.chooser-bank.de',
  pisBaseUrl: 'https://api.chooser-bank.de',
  issuer: null,
  scopes: ['ACCOUNTS'],
  scaApproaches: ['REDIRECT'],
  maxConsentDays: 180,
  maxHistoryDays: 730,
  frequencyPerDay: 4,
};

describe('institution quirks are typed registry data', () => {
  it('accepts the documented quirks and refuses an unknown (misspelt) one or a mistyped value, naming it', () => {
    expect(institutionFileEntry.parse({ ...entry, quirks: { debtorAccountOptional: true, maxPageSize: 200, oauthMetadataForm: 'oauth2' } }).quirks).toEqual({
      debtorAccountOptional: true,
      maxPageSize: 200,
      oauthMetadataForm: 'oauth2',
    });
    const misspelt = institutionFileEntry.safeParse({ ...entry, quirks: { debtorAcountOptional: true } });
    expect(misspelt.success).toBe(false);
    expect(JSON.stringify(misspelt.error?.issues)).toContain('debtorAcountOptional');
    const mistyped = institutionFileEntry.safeParse({ ...entry, quirks: { maxPageSize: '200' } });
    expect(mistyped.success).toBe(false);
    expect(mistyped.error?.issues[0]?.path).toEqual(['quirks', 'maxPageSize']);
    expect(institutionFileEntry.safeParse({ ...entry, quirks: { oauthMetadataForm: 'webfinger' } }).success).toBe(false);
    expect(institutionFileEntry.safeParse({ ...entry, quirks: { sandbox: true } }).success).toBe(false);
  });

  it("parses the README's three documented entries, each with quirks", () => {
    const section = README.slice(README.indexOf('### 3a.'));
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    const institutions = (JSON.parse(json!) as { institutions: unknown[] }).institutions.map((e) => institutionFileEntry.parse(e));
    expect(institutions).toHaveLength(3);
    for (const i of institutions) expect(Object.keys(i.quirks).length).toBeGreaterThan(0);
  });
});

describe('oauthMetadataForm: a bank publishing RFC 8414 metadata in the suffix form', () => {
  let run: Running;
  beforeAll(async () => {
    run = await startSandbox();
  });
  afterAll(async () => run?.close());

  it('is discovered at <issuer>/.well-known/oauth-authorization-server, as its registry entry says', async () => {
    const base = sandboxInstitutions(run.sandbox.banks).find((i) => i.id === 'thames')!;
    const institution = { ...base, quirks: { ...base.quirks, oauthMetadataForm: 'oauth2-suffix' as const } };
    const asked: string[] = [];
    // The sandbox publishes OIDC metadata only: this transport serves it where such a bank would.
    const suffixBank: typeof fetch = async (input, init) => {
      const url = String(input);
      asked.push(url);
      if (!url.endsWith('/.well-known/oauth-authorization-server')) return fetch(input, init);
      return fetch(`${institution.issuer}/.well-known/openid-configuration`);
    };
    const adapter = createUkObieAdapter({ institution, credentials: run.sandbox.clients.thames!, logger: pino({ level: 'silent' }), fetch: suffixBank });
    const started = await adapter.consents.start(
      { institution },
      {
        scopes: ['ACCOUNTS'],
        validUntil: new Date(Date.now() + 30 * 86_400_000),
        frequencyPerDay: 4,
        redirectUri: run.callback,
        state: 'quirk-state-0123456789abcdef',
      },
    );
    expect(started.authorizationUrl).toBeTruthy();
    expect(asked).toContain(`${institution.issuer}/.well-known/oauth-authorization-server`);
    expect(asked.filter((u) => u.endsWith('/.well-known/openid-configuration'))).toEqual([]);
  });
});
