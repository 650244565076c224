/**
 * Schemas of the Berlin Group NextGenPSD2 1.3.x payment-initiation answers the adapter reads
 * (../shared/specs/berlin-group-psd2-api-1.3.12.yaml: `paymentInitationRequestResponse-201`,
 * `paymentInitiationStatusResponse-200_json`, `paymentInitiationCancelResponse-202`). Same rules
 * as berlin-group.schemas.ts: unknown fields kept, enums open, `null` accepted for absent.
 */
import { z } from 'zod';
import { bgLink, scaLinks } from './berlin-group.schemas';

const optText = z.string().nullish();

/** `tppMessages` entries: ERROR/WARNING with a code (open list: banks add their own). */
export const bgTppMessage = z.looseObject({ category: optText, code: optText, text: optText, path: optText });

/** POST /v1/payments/{product} → 201. */
export const bgPaymentCreated = z.looseObject({
  transactionStatus: z.string().min(1),
  paymentId: z.string().min(1),
  transactionFeeIndicator: z.boolean().nullish(),
  scaMethods: z.array(z.looseObject({})).nullish(),
  _links: scaLinks,
  psuMessage: optText,
  tppMessages: z.array(bgTppMessage).nullish(),
});
export type BgPaymentCreated = z.infer<typeof bgPaymentCreated>;

/** GET /v1/payments/{product}/{id}/status → 200 (JSON variant). */
export const bgPaymentStatusResponse = z.looseObject({
  transactionStatus: z.string().min(1),
  fundsAvailable: z.boolean().nullish(),
  psuMessage: optText,
  tppMessages: z.array(bgTppMessage).nullish(),
});
export type BgPaymentStatusResponse = z.infer<typeof bgPaymentStatusResponse>;

/** DELETE /v1/payments/{product}/{id} → 204 (no body) or 202 (the cancellation needs an authorisation). */
export const bgPaymentCancelResponse = z.union([
  z.undefined(),
  z.looseObject({
    transactionStatus: z.string().min(1),
    _links: z
      .looseObject({
        startAuthorisation: bgLink.nullish(),
        startAuthorisationWithPsuIdentification: bgLink.nullish(),
        startAuthorisationWithPsuAuthentication: bgLink.nullish(),
        startAuthorisationWithEncryptedPsuAuthentication: bgLink.nullish(),
        startAuthorisationWithAuthenticationMethodSelection: bgLink.nullish(),
      })
      .nullish(),
    tppMessages: z.array(bgTppMessage).nullish(),
    psuMessage: optText,
  }),
]);
