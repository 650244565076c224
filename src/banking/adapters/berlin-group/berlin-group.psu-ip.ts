import { isIPv4 } from 'node:net';
import { BankInvalidRequest } from '../../errors';
import type { InstitutionDescriptor } from '../../model';
import type { BankCallContext } from '../../ports';

/** An address as the Berlin Group file types `PSU-IP-Address` (`format: ipv4`); IPv4-mapped IPv6 unwrapped. */
export function ipv4Of(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const plain = address.replace(/^::ffff:/i, '');
  return isIPv4(plain) ? plain : undefined;
}

/**
 * `PSU-IP-Address` for a call the 1.3.12 file requires it on (consent and payment creation): the
 * end user's address when known, else the gateway's own (`TPP_IP_ADDRESS`), as the file says
 * ("If not available, the TPP shall use the IP Address used by the TPP when submitting this
 * request"). None where the registry says the bank does not need it and the user's is unknown.
 * Throws before the call when the file requires one and there is none to send.
 */
export function requiredPsuIp(
  institution: InstitutionDescriptor,
  ctx: BankCallContext,
  tppIpAddress: string | undefined,
  operation: string,
): string | undefined {
  const user = ipv4Of(ctx.psuIpAddress);
  if (user) return user;
  if (institution.quirks.psuIpAddressOptional === true) return undefined;
  if (tppIpAddress) return tppIpAddress;
  throw new BankInvalidRequest(
    `${operation} at ${institution.id}: PSU-IP-Address is required by the Berlin Group file and neither the end user's IPv4 address nor TPP_IP_ADDRESS is known`,
    { institutionId: institution.id, operation, bankCode: 'PSU-IP-Address' },
  );
}

/** `PSU-IP-Address` where the file makes it optional (data reads): the end user's, only when it fits the file's format. */
export const optionalPsuIp = (ctx: BankCallContext): string | undefined => ipv4Of(ctx.psuIpAddress);
