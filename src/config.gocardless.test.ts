import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactedConfig } from './config';

describe('GoCardless upstream settings', () => {
  it('stops with a message naming the missing half when only the secret id or only the secret key is set', () => {
    const onlyId = (() => {
      try {
        loadConfig({ GOCARDLESS_SECRET_ID: 'secret-id-1234' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(onlyId).toBeInstanceOf(ConfigError);
    expect(onlyId!.message).toMatch(/GOCARDLESS_SECRET_KEY: required with GOCARDLESS_SECRET_ID/);
    expect(onlyId!.message).not.toContain('secret-id-1234');
    expect(() => loadConfig({ GOCARDLESS_SECRET_KEY: 'secret-key-1234' })).toThrow(/GOCARDLESS_SECRET_ID: required/);
  });

  it('refuses a plain-http base URL and a malformed country list', () => {
    expect(() => loadConfig({ GOCARDLESS_BASE_URL: 'http://bankaccountdata.example' })).toThrow(/GOCARDLESS_BASE_URL/);
    expect(() => loadConfig({ GOCARDLESS_COUNTRIES: 'DE;FR' })).toThrow(/GOCARDLESS_COUNTRIES/);
  });

  it('keeps both secrets out of the configuration it logs', () => {
    const config = loadConfig({ GOCARDLESS_SECRET_ID: 'secret-id-1234', GOCARDLESS_SECRET_KEY: 'secret-key-5678', GOCARDLESS_COUNTRIES: 'de,fr' });
    expect(config.upstreams.gocardless).toMatchObject({ baseUrl: 'https://bankaccountdata.gocardless.com', countries: ['DE', 'FR'] });
    const logged = JSON.stringify(redactedConfig(config));
    expect(logged).not.toContain('secret-id-1234');
    expect(logged).not.toContain('secret-key-5678');
  });
});
