import { errorFieldCodes, errorsArrayCodes, readingInOrder, tppMessageCodes } from '../../error-shapes';
import { createQSealSigner, type BankProtocol } from '../../http';

/** NextGenPSD2 on the wire: plain JSON, `PSU-IP-Address`, QSeal HTTP signatures where the operator holds a QSealC, `tppMessages` errors. */
export const berlinGroupProtocol: BankProtocol = {
  accept: 'application/json',
  headers: ({ psuIpAddress }): Record<string, string> => (psuIpAddress ? { 'PSU-IP-Address': psuIpAddress } : {}),
  signer: (institutionId, { qseal }) => (qseal ? createQSealSigner(institutionId, qseal) : undefined),
  // Banks are not always consistent: the other common shapes are read after the standard's own.
  errors: { readCodes: readingInOrder(tppMessageCodes, errorsArrayCodes, errorFieldCodes) },
};
