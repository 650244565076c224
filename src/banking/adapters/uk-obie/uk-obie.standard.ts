import type { StandardDefinition } from '../../standard';
import { createUkObieAdapter } from './uk-obie.adapter';
import { ukObieProtocol } from './uk-obie.protocol';

const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

/** UK Open Banking (OBIE 3.1.x, FAPI): its entry in the registry of standards. */
export const ukObieStandard: StandardDefinition = {
  id: 'UK_OPEN_BANKING',
  displayName: 'UK Open Banking',
  createAdapter: createUkObieAdapter,
  protocol: ukObieProtocol,
  liveCredentials: {
    // mTLS with private_key_jwt or tls_client_auth (FAPI forbids client secrets); it signs with JWS,
    // not HTTP signatures, so `qseal` is refused rather than silently ignored.
    check(entry, problem) {
      if (SECRET_METHODS.has(entry.tokenEndpointAuthMethod))
        problem(['tokenEndpointAuthMethod'], 'UK Open Banking (FAPI) takes private_key_jwt or tls_client_auth, not a client secret');
      if (entry.qseal) problem(['qseal'], 'UK Open Banking does not use HTTP signatures (it signs with JWS)');
    },
    sendsQSealCertificate: false,
    takesRequestObjects: true,
    payloadSignatureHeader: 'x-jws-signature',
  },
};
