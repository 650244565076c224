import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../../api/relay/node';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import { UserError } from '../../api/user-errors';
import { AccessScopeKind } from '../institutions/institutions.types';
import type { Consent } from './consent.entity';
import { ConsentStatus } from './consent.state';

registerEnumType(ConsentStatus, {
  name: 'ConsentStatus',
  description: 'Where a consent stands; see docs/consent-states.md for every transition.',
  valuesConfig: {
    PENDING_AUTHORIZATION: { description: 'Created; the end user has not yet finished the bank’s authentication.' },
    ACTIVE: { description: 'Authorised and usable.' },
    EXPIRING: { description: 'Usable, but its validity ends soon: renew it.' },
    EXPIRED: { description: 'Its validity ended, or the authorisation link was never completed. consentRenew brings it back.' },
    REJECTED: { description: 'The end user refused, or the bank’s authentication failed. Final.' },
    REVOKED: { description: 'Revoked; its bank tokens are destroyed. Final.' },
    REAUTH_REQUIRED: { description: 'The bank no longer honours it: the end user must authenticate again (consentRenew).' },
  },
});

/** An end user's permission, given at their bank, to read their accounts. */
@ObjectType('Consent', { implements: Node, description: "An end user's permission, given at their bank, to read their accounts." })
export class ConsentType extends Node {
  @Field(() => ConsentStatus)
  status!: ConsentStatus;

  /** Why the consent is in its status, when that needs explaining (rejection, revocation…). */
  @Field(() => String, { nullable: true, description: 'Why the consent is in its status, when that needs explaining (rejection, revocation…).' })
  statusReason!: string | null;

  @Field(() => [AccessScopeKind])
  scopes!: AccessScopeKind[];

  /** Requested validity in days (clamped to the bank's maximum). */
  @Field(() => Int, { description: "Requested validity in days (clamped to the bank's maximum)." })
  validForDays!: number;

  /** End of validity as the bank set it; null until authorised. */
  @Field(() => Date, { nullable: true, description: 'End of validity as the bank set it; null until authorised.' })
  validUntil!: Date | null;

  @Field(() => Int, { description: 'Days of transaction history requested.' })
  historyDays!: number;

  @Field(() => Int, { description: 'Unattended reads per day and scope the bank allows.' })
  frequencyPerDay!: number;

  @Field(() => String, {
    description:
      'Where the end user is sent back, with `consentId` and `outcome` (success, rejected, error, expired); `consent_id` repeats the id for apps written before `consentId`.',
  })
  redirectUri!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  authorizedAt!: Date | null;

  internalId!: string;
  endUserId!: string;
  institutionSlug!: string | null;

  static from(c: Consent): ConsentType {
    return Object.assign(new ConsentType(), {
      id: toGlobalId('Consent', c.id),
      internalId: c.id,
      endUserId: c.endUser.id,
      institutionSlug: c.institutionId,
      status: c.status,
      statusReason: c.statusReason,
      scopes: c.scopes as AccessScopeKind[],
      validForDays: c.validForDays,
      validUntil: c.validUntil,
      historyDays: c.historyDays,
      frequencyPerDay: c.frequencyPerDay,
      redirectUri: c.redirectUri,
      createdAt: c.createdAt,
      authorizedAt: c.authorizedAt,
    });
  }
}

export const ConsentConnection = connectionType('Consent', ConsentType);

@InputType({ description: 'A new consent.' })
export class ConsentCreateInput {
  @Field(() => ID)
  endUserId!: string;

  /** The bank; omit it to let the end user pick one on the hosted connect page. */
  @Field(() => ID, { nullable: true, description: 'The bank; omit it to let the end user pick one on the hosted connect page.' })
  institutionId?: string | null;

  @Field(() => [AccessScopeKind])
  scopes!: AccessScopeKind[];

  /** Validity in days, at most the bank's maximum (default 90, or the bank's maximum if lower). */
  @Field(() => Int, { nullable: true, description: "Validity in days, at most the bank's maximum (default 90, or the bank's maximum if lower)." })
  validForDays?: number | null;

  /** Days of transaction history, at most the bank's maximum (default 90). */
  @Field(() => Int, { nullable: true, description: "Days of transaction history, at most the bank's maximum (default 90)." })
  historyDays?: number | null;

  /**
   * The end user's login at the bank. With a bank that offers decoupled SCA, the end user then
   * approves in the bank's app: `authorizationUrl` is null and the consent becomes ACTIVE (or
   * REJECTED) by itself — follow its status.
   */
  @Field(() => String, {
    nullable: true,
    description:
      "The end user's login at the bank. With a bank that offers decoupled SCA, the end user then approves in the bank's app: authorizationUrl is null and the consent becomes ACTIVE (or REJECTED) by itself — follow its status.",
  })
  psuId?: string | null;

  /** Where the end user returns; must be in the tenant's allow-list (redirectUriAdd). */
  @Field(() => String, { description: "Where the end user returns; must be in the tenant's allow-list (redirectUriAdd)." })
  redirectUri!: string;
}

@ObjectType()
export class ConsentLinkPayload {
  @Field(() => ConsentType, { nullable: true })
  consent!: ConsentType | null;

  /** Send the end user here: the bank's authentication, or the hosted connect page. Null for decoupled SCA. */
  @Field(() => String, {
    nullable: true,
    description: "Send the end user here: the bank's authentication, or the hosted connect page. Null for decoupled SCA.",
  })
  authorizationUrl!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class ConsentRevokePayload {
  @Field(() => ConsentType, { nullable: true })
  consent!: ConsentType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}
