/**
 * The consent state machine, written down once (docs/consent-states.md) and followed here: every
 * status change of a consent goes through `nextConsentStatus`, so no code path can invent one.
 */

/** Where a consent stands. */
export enum ConsentStatus {
  /** Created; the end user has not yet finished the bank's authentication. */
  PENDING_AUTHORIZATION = 'PENDING_AUTHORIZATION',
  /** Authorised and usable. */
  ACTIVE = 'ACTIVE',
  /** Usable, but its validity ends within the configured lead time: renew it. */
  EXPIRING = 'EXPIRING',
  /** Its validity ended (or the end user never finished authenticating). Renewal brings it back. */
  EXPIRED = 'EXPIRED',
  /** The end user refused, or the bank's authentication failed. Final. */
  REJECTED = 'REJECTED',
  /** Revoked by the developer; its bank tokens are crypto-shredded. Final. */
  REVOKED = 'REVOKED',
  /** The bank says the consent is no longer valid before its end date: the end user must authenticate again. */
  REAUTH_REQUIRED = 'REAUTH_REQUIRED',
}

/** What can happen to a consent. */
export enum ConsentEvent {
  AUTHORISED = 'AUTHORISED',
  AUTHORISATION_REJECTED = 'AUTHORISATION_REJECTED',
  AUTHORISATION_ABANDONED = 'AUTHORISATION_ABANDONED',
  EXPIRY_APPROACHING = 'EXPIRY_APPROACHING',
  VALIDITY_ENDED = 'VALIDITY_ENDED',
  BANK_REPORTED_INVALID = 'BANK_REPORTED_INVALID',
  RENEWAL_AUTHORISED = 'RENEWAL_AUTHORISED',
  REVOKED = 'REVOKED',
}

const S = ConsentStatus;

/** The whole machine: for each event, the states it may happen in and the state it leads to. */
export const consentTransitions: Readonly<Record<ConsentEvent, { from: readonly ConsentStatus[]; to: ConsentStatus }>> = Object.freeze({
  [ConsentEvent.AUTHORISED]: { from: [S.PENDING_AUTHORIZATION], to: S.ACTIVE },
  [ConsentEvent.AUTHORISATION_REJECTED]: { from: [S.PENDING_AUTHORIZATION], to: S.REJECTED },
  [ConsentEvent.AUTHORISATION_ABANDONED]: { from: [S.PENDING_AUTHORIZATION], to: S.EXPIRED },
  [ConsentEvent.EXPIRY_APPROACHING]: { from: [S.ACTIVE], to: S.EXPIRING },
  [ConsentEvent.VALIDITY_ENDED]: { from: [S.ACTIVE, S.EXPIRING, S.REAUTH_REQUIRED], to: S.EXPIRED },
  [ConsentEvent.BANK_REPORTED_INVALID]: { from: [S.ACTIVE, S.EXPIRING], to: S.REAUTH_REQUIRED },
  [ConsentEvent.RENEWAL_AUTHORISED]: { from: [S.ACTIVE, S.EXPIRING, S.EXPIRED, S.REAUTH_REQUIRED], to: S.ACTIVE },
  [ConsentEvent.REVOKED]: { from: [S.PENDING_AUTHORIZATION, S.ACTIVE, S.EXPIRING, S.EXPIRED, S.REAUTH_REQUIRED], to: S.REVOKED },
});

/** States no event leaves. */
export const finalConsentStatuses: ReadonlySet<ConsentStatus> = new Set([S.REJECTED, S.REVOKED]);

/** States in which the gateway may read data with the consent. */
export const usableConsentStatuses: ReadonlySet<ConsentStatus> = new Set([S.ACTIVE, S.EXPIRING]);

/** States from which `consentRenew` may start a new authorisation. */
export const renewableConsentStatuses: ReadonlySet<ConsentStatus> = new Set(consentTransitions[ConsentEvent.RENEWAL_AUTHORISED].from);

/** Refused transition; carries both ends so the caller can answer with a precise userError. */
export class ConsentTransitionError extends Error {
  readonly code = 'CONSENT_INVALID_TRANSITION';
  constructor(
    readonly from: ConsentStatus,
    readonly event: ConsentEvent,
  ) {
    super(`A consent in status ${from} cannot take event ${event}`);
    this.name = 'ConsentTransitionError';
  }
}

/** The status after `event`, or a ConsentTransitionError when the machine does not allow it. */
export function nextConsentStatus(from: ConsentStatus, event: ConsentEvent): ConsentStatus {
  const t = consentTransitions[event];
  if (!t.from.includes(from)) throw new ConsentTransitionError(from, event);
  return t.to;
}
