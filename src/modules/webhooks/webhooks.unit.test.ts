import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { isPublicAddress } from '../../platform/ip';
import { retryDelayMs } from './webhook-dispatcher';
import { newSigningSecret, signatureHeader, signingKeys } from './signing';
import { checkWebhookUrl } from './webhook-url';

describe('webhook signatures', () => {
  it('are exactly what the standardwebhooks package computes for the same id, time and body', () => {
    const secret = newSigningSecret();
    const at = new Date('2026-11-25T12:00:00Z');
    const body = '{"type":"TRANSACTIONS_ADDED","data":{"ü":"ß"}}';
    expect(signatureHeader(signingKeys([secret]), 'evt_1', at.getTime() / 1000, body)).toBe(new Webhook(secret).sign('evt_1', at, body));
  });

  it('carry one signature per secret, each verifiable on its own', () => {
    const [a, b] = [newSigningSecret(), newSigningSecret()];
    const ts = Math.floor(Date.now() / 1000);
    const header = signatureHeader(signingKeys([a, b]), 'evt_2', ts, '{}');
    for (const s of [a, b])
      expect(new Webhook(s).verify('{}', { 'webhook-id': 'evt_2', 'webhook-timestamp': String(ts), 'webhook-signature': header })).toEqual({});
  });
});

describe('retry delays', () => {
  it('double from the base with equal jitter and stop growing at six hours', () => {
    expect(retryDelayMs(1, 5000, () => 0)).toBe(2500);
    expect(retryDelayMs(1, 5000, () => 1)).toBe(5000);
    expect(retryDelayMs(4, 5000, () => 1)).toBe(40_000);
    expect(retryDelayMs(40, 5000, () => 1)).toBe(6 * 3600_000);
  });

  it('keep retrying for at least 72 hours with the default settings before a delivery is dead', () => {
    // The dispatcher schedules the last attempt at the end of the window; here: how many attempts fit.
    let t = 0;
    let n = 0;
    while (t < 72 * 3600_000) t += retryDelayMs(++n, 5000, () => 0.5);
    expect(n).toBeGreaterThan(15);
  });
});

describe('addresses', () => {
  it('tell the public internet from private, loopback, link-local and reserved ranges', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) expect(isPublicAddress(ip), ip).toBe(true);
    for (const ip of [
      '127.0.0.1',
      '10.0.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd12::1',
      '::ffff:127.0.0.1',
      '[::1]',
      'not-an-ip',
    ]) {
      expect(isPublicAddress(ip), ip).toBe(false);
    }
  });

  it('refuses a live host name that resolves to a private address, and one that does not resolve', async () => {
    const internal = await checkWebhookUrl('https://hooks.internal.example/x', 'live', async () => ['8.8.8.8', '10.0.0.7']);
    expect(internal.ok ? null : internal.error.code).toBe('PRIVATE_ADDRESS');
    const missing = await checkWebhookUrl('https://nowhere.example/x', 'live', async () => {
      throw new Error('ENOTFOUND');
    });
    expect(missing.ok ? null : missing.error.code).toBe('INVALID');
    expect(await checkWebhookUrl('https://hooks.example.com/x', 'live', async () => ['8.8.4.4'])).toEqual({ ok: true, url: 'https://hooks.example.com/x' });
  });
});
