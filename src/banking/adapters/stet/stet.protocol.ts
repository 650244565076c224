import { errorFieldCodes, errorsArrayCodes, readingInOrder, tppMessageCodes } from '../../error-shapes';
import { createQSealSigner, type BankProtocol } from '../../http';

/** STET on the wire: HAL+JSON, `PSU-IP-Address`, QSeal HTTP signatures, `{ error, message }` errors. */
export const stetProtocol: BankProtocol = {
  accept: 'application/hal+json, application/json;q=0.9',
  headers: ({ psuIpAddress }): Record<string, string> => (psuIpAddress ? { 'PSU-IP-Address': psuIpAddress } : {}),
  signer: (institutionId, { qseal }) => (qseal ? createQSealSigner(institutionId, qseal) : undefined),
  // Banks are not always consistent: the other common shapes are read after the standard's own.
  errors: { readCodes: readingInOrder(errorFieldCodes, tppMessageCodes, errorsArrayCodes) },
};
