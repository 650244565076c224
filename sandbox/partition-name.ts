// Partition names: light (no bank code), for the gateway that only names its tenants' partitions.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A partition name as it appears in URLs (`/t/<name>/banks/<bank>/…`): `<label>.<mac>`. */
const PARTITION_NAME = /^([A-Za-z0-9_-]{1,40})\.([A-Za-z0-9_-]{22})$/;
const LABEL = /^[A-Za-z0-9_-]{1,40}$/;

const macOf = (adminToken: string, label: string) => createHmac('sha256', adminToken).update(`sandbox-partition/${label}`).digest('base64url').slice(0, 22);

/**
 * The name of the partition `label` (1–40 letters, digits, - or _). Only holders of the admin
 * token can make one, so nobody else can make the sandbox create partitions (and push the
 * least recently used ones out); the name itself is no secret.
 */
export function partitionName(adminToken: string, label: string): string {
  if (!LABEL.test(label)) throw new Error('partitionName: a label is 1–40 letters, digits, - or _');
  return `${label}.${macOf(adminToken, label)}`;
}

export function isPartitionName(adminToken: string, name: string): boolean {
  const m = PARTITION_NAME.exec(name);
  if (!m) return false;
  const expected = Buffer.from(macOf(adminToken, m[1]));
  const got = Buffer.from(m[2]);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
