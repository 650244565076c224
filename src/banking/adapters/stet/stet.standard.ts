import type { StandardDefinition } from '../../standard';
import { createStetAdapter } from './stet.adapter';
import { stetProtocol } from './stet.protocol';

/** STET PSD2 API (1.4–1.6): its entry in the registry of standards. */
export const stetStandard: StandardDefinition = {
  id: 'STET',
  displayName: 'STET',
  createAdapter: createStetAdapter,
  protocol: stetProtocol,
  liveCredentials: {
    check(entry, problem) {
      if (!entry.qseal) problem(['qseal'], 'STET requires signed requests: qseal.keyFile and qseal.keyId are required');
    },
    // STET banks fetch the certificate from the keyId URL.
    sendsQSealCertificate: false,
    takesRequestObjects: false,
  },
};
