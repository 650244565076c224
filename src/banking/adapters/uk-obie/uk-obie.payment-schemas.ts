/**
 * Schemas of the UK Open Banking 3.1 payment-initiation answers the adapter reads, from
 * ../shared/specs/uk-obie-3.1.11-payment-initiation.yaml (`OBWriteDomesticConsentResponse5`,
 * `OBWriteDomesticResponse5`, `OBWritePaymentDetailsResponse1`); 4.0 status codes pass as open
 * strings. Same rules as uk-obie.schemas.ts: unknown fields kept, enums open.
 */
import { z } from 'zod';
import { ukLinksSchema, ukMetaSchema } from './uk-obie.schemas';

const envelope = { Links: ukLinksSchema.optional(), Meta: ukMetaSchema.optional() };

/** POST/GET /domestic-payment-consents → 201/200. */
export const ukPaymentConsentResponse = z.looseObject({
  Data: z.looseObject({
    ConsentId: z.string().min(1),
    /** AwaitingAuthorisation, Authorised, Consumed, Rejected (4.0: AWAU, AUTH, COND, RJCT). */
    Status: z.string().min(1),
    CreationDateTime: z.string().optional(),
    StatusUpdateDateTime: z.string().optional(),
    Initiation: z.looseObject({}).optional(),
  }),
  Risk: z.unknown().optional(),
  ...envelope,
});

/** POST /domestic-payments → 201, GET /domestic-payments/{id} → 200. */
export const ukDomesticPaymentResponse = z.looseObject({
  Data: z.looseObject({
    DomesticPaymentId: z.string().min(1),
    ConsentId: z.string().min(1),
    /** Pending, AcceptedSettlementInProcess, AcceptedSettlementCompleted, AcceptedCreditSettlementCompleted, AcceptedWithoutPosting, Rejected. */
    Status: z.string().min(1),
    StatusUpdateDateTime: z.string().optional(),
  }),
  ...envelope,
});

/** GET /domestic-payments/{id}/payment-details → 200 (3.1.4+): the status on the payment rail. */
export const ukPaymentDetailsResponse = z.looseObject({
  Data: z.looseObject({
    PaymentStatus: z
      .array(
        z.looseObject({
          Status: z.string().min(1),
          StatusDetail: z
            .looseObject({ Status: z.string().optional(), StatusReason: z.string().optional(), StatusReasonDescription: z.string().optional() })
            .optional(),
        }),
      )
      .optional(),
  }),
  ...envelope,
});
