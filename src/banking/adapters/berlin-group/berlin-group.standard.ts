import type { StandardDefinition } from '../../standard';
import { createBerlinGroupAdapter } from './berlin-group.adapter';
import { accountPath } from './berlin-group.mapper';
import { berlinGroupProtocol } from './berlin-group.protocol';

/** Berlin Group NextGenPSD2 (1.3.x): its entry in the registry of standards. */
export const berlinGroupStandard: StandardDefinition = {
  id: 'BERLIN_GROUP',
  displayName: 'Berlin Group',
  // dateFrom/dateTo inclusive and bookingStatus booked/pending on every transaction listing (1.3.12).
  readsDateRanges: true,
  // Card accounts' ids carry `card:` (the collection they live in); the bank's is the rest.
  bankResourceId: (bankAccountId) => accountPath(bankAccountId).resourceId,
  createAdapter: createBerlinGroupAdapter,
  protocol: berlinGroupProtocol,
  liveCredentials: {
    // A QWAC always (checked generically), QSeal where the bank wants it, with its certificate.
    check(entry, problem) {
      if (entry.qseal && !entry.qseal.certFile)
        problem(['qseal', 'certFile'], 'Berlin Group sends the QSealC with every signature (TPP-Signature-Certificate)');
    },
    sendsQSealCertificate: true,
    takesRequestObjects: false,
  },
};
