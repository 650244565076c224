import { typeFieldCodes } from '../../error-shapes';
import type { BankProtocol } from '../../http';

/** GoCardless Bank Account Data on the wire: JSON, `{ summary, detail, type, status_code }` errors, nothing signed. */
export const goCardlessProtocol: BankProtocol = {
  accept: 'application/json',
  headers: ({ psuIpAddress }): Record<string, string> => (psuIpAddress ? { 'PSU-IP-Address': psuIpAddress } : {}),
  signer: () => undefined,
  errors: { readCodes: typeFieldCodes },
};
