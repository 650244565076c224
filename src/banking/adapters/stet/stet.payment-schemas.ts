/**
 * Schemas of the STET 1.4–1.6 PISP answers the adapter reads (`POST /payment-requests`,
 * `GET /payment-requests/{id}`, `POST …/confirmation`), after ../shared/specs/README.md and the
 * STET text. Same rules as stet.schemas.ts: unknown fields kept, code lists open.
 */
import { z } from 'zod';
import { stetLink } from './stet.schemas';

/** POST /payment-requests → 201, with `Location` naming the new resource. */
export const stetPaymentRequestCreated = z.looseObject({
  /** REDIRECT, DECOUPLED, EMBEDDED… */
  appliedAuthenticationApproach: z.string().nullish(),
  _links: z.looseObject({ consentApproval: stetLink.optional(), self: stetLink.optional() }).nullish(),
});

/** GET /payment-requests/{id} and POST …/confirmation → 200: the payment request with its status. */
export const stetPaymentRequestResponse = z.looseObject({
  paymentRequest: z.looseObject({
    resourceId: z.string().nullish(),
    /** ISO 20022: RCVD, PDNG, ACCP, ACTC, ACSP, ACSC, ACWC, ACWP, PART, RJCT, CANC (open list). */
    paymentInformationStatus: z.string().min(1),
    /** The ISO reason of a rejection (`AM04`, `DS02`…): a code, or an object carrying one, depending on the version. */
    statusReasonInformation: z.union([z.string(), z.looseObject({ reason: z.string().nullish(), code: z.string().nullish() })]).nullish(),
    creditTransferTransaction: z.array(z.looseObject({ transactionStatus: z.string().nullish() })).nullish(),
  }),
  _links: z.looseObject({ self: stetLink.optional(), confirmation: stetLink.optional() }).nullish(),
});
export type StetPaymentRequestResponse = z.infer<typeof stetPaymentRequestResponse>;

/**
 * PUT /payment-requests/{id} (cancellation) → 200: the payment request as it now is, or, where the
 * bank wants the end user to confirm the cancellation, the approach and a `consentApproval` link.
 */
export const stetPaymentRequestModified = z.union([
  stetPaymentRequestResponse,
  z.looseObject({
    appliedAuthenticationApproach: z.string().nullish(),
    _links: z.looseObject({ consentApproval: stetLink.optional() }).nullish(),
  }),
  z.undefined(),
]);
