import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactedConfig, settings } from './config';

describe('configuration', () => {
  it('runs with no configuration at all, on embedded defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 4000, databaseUrl: undefined, redisUrl: undefined, environment: 'sandbox', demoTenant: true });
    expect(c.kms.provider).toBe('local');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('stops with a message naming every invalid variable', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', RATE_LIMIT_PER_MINUTE: '0', DEMO_TENANT: 'maybe' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'DATABASE_URL', 'RATE_LIMIT_PER_MINUTE', 'DEMO_TENANT']) expect(message).toContain(`${name}:`);
  });

  it('refuses the local KMS key file in live unless the named flag allows it', () => {
    expect(() => loadConfig({ PASSERELLE_ENV: 'live' })).toThrow(/KMS_KEY_NAME/);
    const https = { PUBLIC_URL: 'https://passerelle.example.com' };
    expect(loadConfig({ PASSERELLE_ENV: 'live', ALLOW_LOCAL_KMS_IN_LIVE: 'true', ...https }).kms.provider).toBe('local');
    expect(loadConfig({ PASSERELLE_ENV: 'live', KMS_KEY_NAME: 'projects/p/locations/l/keyRings/r/cryptoKeys/k', ...https }).kms.provider).toBe('gcp');
  });

  it('requires an https PUBLIC_URL in live unless the named flag allows http', () => {
    const live = { PASSERELLE_ENV: 'live', KMS_KEY_NAME: 'projects/p/locations/l/keyRings/r/cryptoKeys/k' };
    expect(() => loadConfig(live)).toThrow(/PUBLIC_URL: an https URL is required/);
    expect(() => loadConfig({ ...live, PUBLIC_URL: 'http://passerelle.example.com' })).toThrow(/PUBLIC_URL/);
    expect(loadConfig({ ...live, PUBLIC_URL: 'https://passerelle.example.com/' }).publicUrl).toBe('https://passerelle.example.com');
    expect(loadConfig({ ...live, ALLOW_HTTP_PUBLIC_URL_IN_LIVE: 'true' }).publicUrl).toBeUndefined();
    expect(loadConfig({}).environment).toBe('sandbox'); // sandbox keeps http://localhost
  });

  it('redacts passwords in connection URLs when the configuration is logged', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://app:s3cret@db:5432/pass', REDIS_URL: 'redis://:hunter2@cache:6379' });
    const text = JSON.stringify(redactedConfig(c));
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('hunter2');
    expect(text).toContain('db:5432');
  });

  it('believes no proxy by default, and takes a hop count or proxy addresses, subnets and presets for TRUST_PROXY', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'uniquelocal, 203.0.113.9, 2001:db8::/32' }).trustProxy).toEqual(['uniquelocal', '203.0.113.9', '2001:db8::/32']);
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY: .*not everyone/);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
    expect(() => loadConfig({ TRUST_PROXY: '99' })).toThrow(/TRUST_PROXY: a hop count must be at most 10/);
  });

  it('takes a metrics token of 16 or more printable characters, marks it secret and redacts it', () => {
    expect(loadConfig({}).metrics.token).toBeUndefined();
    const token = 'scrape-me-9f2c41d7e8';
    const c = loadConfig({ METRICS_TOKEN: token });
    expect(c.metrics.token).toBe(token);
    expect(JSON.stringify(redactedConfig(c))).not.toContain(token);
    expect(settings.METRICS_TOKEN.secret).toBe(true);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN: must have at least 16/);
    expect(() => loadConfig({ METRICS_TOKEN: 'has a space in the middle' })).toThrow(/METRICS_TOKEN/);
  });

  it('documents every setting, and marks the connection URLs as secrets', () => {
    for (const [name, spec] of Object.entries(settings)) expect(spec.doc.length, name).toBeGreaterThan(10);
    expect('secret' in settings.DATABASE_URL && settings.DATABASE_URL.secret).toBe(true);
    expect('secret' in settings.REDIS_URL && settings.REDIS_URL.secret).toBe(true);
  });
});
