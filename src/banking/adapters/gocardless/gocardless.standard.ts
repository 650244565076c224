import type { StandardDefinition } from '../../standard';
import { createGoCardlessAdapter } from './gocardless.adapter';
import { goCardlessProtocol } from './gocardless.protocol';

/**
 * GoCardless Bank Account Data, an upstream aggregator reaching banks for us (account information
 * only): its entry in the registry of standards. Its institutions come from its own API
 * (gocardless.institutions.ts), never from the institutions file.
 */
export const goCardlessStandard: StandardDefinition = {
  id: 'GOCARDLESS',
  displayName: 'GoCardless Bank Account Data',
  reach: 'GOCARDLESS',
  createAdapter: createGoCardlessAdapter,
  protocol: goCardlessProtocol,
  liveCredentials: {
    check() {},
    sendsQSealCertificate: false,
    takesRequestObjects: false,
  },
};
