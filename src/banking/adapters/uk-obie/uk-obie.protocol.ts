import { errorFieldCodes, errorsArrayCodes, readingInOrder, tppMessageCodes } from '../../error-shapes';
import type { BankProtocol } from '../../http';

/**
 * UK Open Banking (FAPI) on the wire: `x-fapi-interaction-id` (our request id) and
 * `x-fapi-customer-ip-address`, `Errors[]` bodies, a 403 meaning the consent no longer allows the
 * call. Payments are signed with a detached JWS in the payment code (uk-obie.jws.ts), not by HTTP
 * signatures, so the client signs nothing.
 */
export const ukObieProtocol: BankProtocol = {
  accept: 'application/json',
  headers: ({ requestId, psuIpAddress }) => ({
    'x-fapi-interaction-id': requestId,
    ...(psuIpAddress ? { 'x-fapi-customer-ip-address': psuIpAddress } : {}),
  }),
  signer: () => undefined,
  // Banks are not always consistent: the other common shapes are read after the standard's own.
  errors: { readCodes: readingInOrder(errorsArrayCodes, tppMessageCodes, errorFieldCodes), forbiddenMeansConsentInvalid: true },
};
