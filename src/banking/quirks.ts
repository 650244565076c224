import { z } from 'zod';

/**
 * What a real bank does differently from its standard's file, as data: a new bank is a registry
 * entry, not a code change. Every field is optional and typed; an unknown field stops start-up
 * (a misspelt quirk would otherwise be silently ignored). Which adapter reads which field is noted
 * on each; docs/real-banks.md lists them for operators.
 */
export const institutionQuirks = z
  .object({
    /** Plain http and insecure OAuth: set by the sandbox on its own banks only, refused in the live file. */
    sandbox: z.boolean().optional(),
    /** Sandbox only: where the sandbox is mounted, so each tenant's calls can be moved into its own copy of the bank. */
    sandboxRoot: z.string().url().optional(),
    /**
     * Berlin Group: the bank lets the end user choose the debtor account during SCA, so a payment
     * may be sent without `debtorAccount` (which the 1.3.12 file requires). Without it, a payment
     * without a debtor account is refused before the call (BANK_INVALID_REQUEST naming the field).
     */
    debtorAccountOptional: z.boolean().optional(),
    /**
     * Berlin Group: the bank does not need `PSU-IP-Address` on consent and payment creation (the file
     * requires it). Then the gateway sends only the end user's address, never its own.
     */
    psuIpAddressOptional: z.boolean().optional(),
    /**
     * Berlin Group: the bank grants one account per consent (no `allPsd2`, no bank-offered lists of
     * several accounts): consents list the accounts asked for and only one may be asked at a time.
     */
    consentPerAccount: z.boolean().optional(),
    /**
     * Standards whose adapters read date ranges (Berlin Group): transaction listings one first
     * sync may read from the bank at once (default 1: one listing,
     * page after page). With 3 or more, a first sync the bank does not count (the end user present)
     * reads the pending entries in one listing and the booked ones in that many less one date
     * ranges side by side (`dateFrom`/`dateTo`, `bookingStatus` booked and pending), each still page
     * after page: a long history arrives in the time of its longest range. For banks that serve
     * date ranges and separate booking statuses as their standard says, and allow this many requests at once.
     */
    transactionReadLanes: z.number().int().min(1).max(8).optional(),
    /** Berlin Group: `bookingStatus=both` is refused: booked and pending entries are read with two calls. */
    bookingStatusBothUnsupported: z.boolean().optional(),
    /**
     * Where the bank's OAuth server publishes its metadata when the registry gives an `issuer`
     * (UK, STET): `oidc` (default) `<issuer>/.well-known/openid-configuration`; `oauth2` RFC 8414
     * `/.well-known/oauth-authorization-server<path>`; `oauth2-suffix` `<issuer>/.well-known/oauth-authorization-server`.
     */
    oauthMetadataForm: z.enum(['oidc', 'oauth2', 'oauth2-suffix']).optional(),
    /**
     * Berlin Group: the most entries the bank documents per transaction page. A page with more is
     * not an answer its own rules allow and is refused (BANK_RESPONSE_INVALID), not stored.
     */
    maxPageSize: z.number().int().min(1).max(10_000).optional(),
    /** Transaction ids change between calls: transactions are matched by content, not by id. */
    transactionIdsUnstable: z.boolean().optional(),
    /** Berlin Group: how `access` is asked for (default: allPsd2 when all three scopes are wanted). */
    consentAccess: z.enum(['allPsd2', 'bankOffered']).optional(),
    /** Berlin Group: `false` when the bank has no `/v1/card-accounts`. */
    cardAccounts: z.boolean().optional(),
    /** UK: the `x-fapi-financial-id` header value the bank asks for. */
    fapiFinancialId: z.string().min(1).max(200).optional(),
    /** STET: scope of the PISP client-credentials token (default `pisp`). */
    stetPispScope: z.string().min(1).max(200).optional(),
    /** STET: `initiatingParty.name` of payment requests (default `Passerelle`). */
    stetInitiatingPartyName: z.string().min(1).max(140).optional(),
    /** STET: `false` when the bank does not support cancellation by PUT. */
    stetCancellation: z.boolean().optional(),
    /** STET: scope of the AISP authorisation (default `aisp`). */
    stetOAuthScope: z.string().min(1).max(200).optional(),
    /** STET: base that relative `_links` are resolved against (default the AIS base URL). */
    stetRelativeLinkBase: z.string().url().optional(),
    /** UK: where the bank publishes the keys of its `x-jws-signature` (https; the sandbox's may be http). */
    jwsJwksUrl: z.string().url().optional(),
    /** UK: the `http://openbanking.org.uk/iss` the bank signs its answers as. */
    jwsIssuer: z.string().min(1).max(500).optional(),
    /** UK: the `http://openbanking.org.uk/tan` (trust anchor) of the bank's signatures (default `openbanking.org.uk`). */
    jwsTrustAnchor: z.string().min(1).max(253).optional(),
    /** Upstream aggregators (GoCardless): the upstream's own id of the institution, sent on every call. */
    upstreamInstitutionId: z.string().min(1).max(200).optional(),
    /** Upstream aggregators: every read counts against the daily limit, end user present or not. */
    userPresentReadsCounted: z.boolean().optional(),
  })
  .strict();

/** The typed quirks of one institution (see {@link institutionQuirks}). */
export type InstitutionQuirks = z.infer<typeof institutionQuirks>;
