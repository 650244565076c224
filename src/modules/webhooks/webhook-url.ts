import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Environment } from '../../config';
import { isPublicAddress } from '../../platform/ip';
import { type Problem, ProblemCode, problem } from '../../kernel/problems';

const FIELD = ['input', 'url'];
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_URL = 2048;

/** The host of a URL as an address, when it is one (`[::1]` → `::1`). */
const literalAddress = (u: URL) => {
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? host : null;
};

/**
 * Checks a webhook endpoint URL before anything is stored: absolute http(s), no credentials or
 * fragment, at most 2048 characters. Live tenants: https only, and never an address that is not
 * public (no SSRF into the operator's network) — a host name is resolved and every address it
 * has must be public. Sandbox tenants: https anywhere, plain http to localhost only.
 */
export async function checkWebhookUrl(
  raw: string,
  environment: Environment,
  resolve: (host: string) => Promise<string[]> = resolveAll,
): Promise<{ ok: true; url: string } | { ok: false; error: Problem }> {
  const fail = (code: ProblemCode, message: string) => ({ ok: false as const, error: problem(FIELD, code, message) });
  if (raw.length > MAX_URL) return fail(ProblemCode.TOO_LONG, `must be at most ${MAX_URL} characters`);
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return fail(ProblemCode.INVALID, 'must be an absolute URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return fail(ProblemCode.INVALID, 'must be an http(s) URL');
  if (u.username || u.password) return fail(ProblemCode.INVALID, 'must not contain credentials');
  if (u.hash) return fail(ProblemCode.INVALID, 'must not contain a fragment');
  if (environment === 'live') {
    if (u.protocol !== 'https:') return fail(ProblemCode.INSECURE_URL, 'live tenants accept https URLs only');
    const literal = literalAddress(u);
    let addresses: string[];
    try {
      addresses = literal ? [literal] : await resolve(u.hostname);
    } catch {
      return fail(ProblemCode.INVALID, 'the host name does not resolve');
    }
    if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
      return fail(ProblemCode.PRIVATE_ADDRESS, 'must reach a public internet address (private, loopback and link-local addresses are refused in live)');
    }
  } else if (u.protocol === 'http:' && !LOOPBACK_HOSTS.has(u.hostname)) {
    return fail(ProblemCode.INSECURE_URL, 'plain http is accepted for localhost, 127.0.0.1 and [::1] only');
  }
  return { ok: true, url: u.href };
}

async function resolveAll(host: string): Promise<string[]> {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((a) => a.address);
}
