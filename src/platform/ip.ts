import { isIP } from 'node:net';

/** A socket's address as an end user's IP: `::ffff:10.0.0.1` → `10.0.0.1`; anything that is not an address → null. */
export function normaliseIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const v = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  return isIP(v) ? v : null;
}
