import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../../api/relay/node';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import type { InstitutionDescriptor } from '../../banking/model';
import { standards } from '../../banking/standards';

/**
 * The PSD2 API standard a bank speaks: one value per entry of the registry of standards
 * (src/banking/standards.ts), which is the only list of them.
 */
export const StandardKind: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(standards.ids().map((id) => [id, id])));
export type StandardKind = string;
registerEnumType(StandardKind, {
  name: 'Standard',
  description: 'The PSD2 API standard a bank speaks, or GOCARDLESS for a bank reached through that upstream aggregator.',
});

/**
 * How Passerelle reaches an institution: `DIRECT` (the bank's own PSD2 API under the operator's
 * licence), or through an upstream aggregator of the registry of standards (its `reach` value),
 * under the aggregator's licence (account information only).
 */
export const ReachKind: Readonly<Record<string, string>> = Object.freeze({
  DIRECT: 'DIRECT',
  ...Object.fromEntries(
    standards
      .all()
      .flatMap((s) => (s.reach ? [s.reach] : []))
      .map((reach) => [reach, reach]),
  ),
});
export type ReachKind = string;
registerEnumType(ReachKind, { name: 'Reach', description: 'How Passerelle reaches an institution: directly, or through an upstream aggregator.' });

/** An institution reached through an upstream aggregator: which one, and its id there. */
@ObjectType('UpstreamInstitution', { description: 'An institution as an upstream aggregator knows it.' })
export class UpstreamInstitutionType {
  @Field(() => ReachKind, { description: 'The upstream aggregator.' })
  provider!: ReachKind;

  @Field(() => String, { description: 'The upstream’s own id of the institution, e.g. SANDBOXFINANCE_SFIN0000.' })
  institutionId!: string;
}

/** What a consent may grant access to. */
export enum AccessScopeKind {
  ACCOUNTS = 'ACCOUNTS',
  BALANCES = 'BALANCES',
  TRANSACTIONS = 'TRANSACTIONS',
}
registerEnumType(AccessScopeKind, { name: 'AccessScope', description: 'What a consent may grant access to.' });

/** Payment schemes the gateway initiates. */
export enum PaymentSchemeKind {
  SEPA_CREDIT_TRANSFER = 'SEPA_CREDIT_TRANSFER',
  SEPA_INSTANT = 'SEPA_INSTANT',
  FASTER_PAYMENTS = 'FASTER_PAYMENTS',
}
registerEnumType(PaymentSchemeKind, { name: 'PaymentScheme', description: 'Payment schemes the gateway initiates.' });

/** How the bank authenticates its customer. */
export enum ScaApproachKind {
  REDIRECT = 'REDIRECT',
  OAUTH = 'OAUTH',
  DECOUPLED = 'DECOUPLED',
  EMBEDDED = 'EMBEDDED',
}
registerEnumType(ScaApproachKind, { name: 'ScaApproach', description: 'How the bank authenticates its customer (strong customer authentication).' });

/** Something an institution can do: an access scope or a payment scheme (the union of both enums). */
export const CapabilityKind = { ...AccessScopeKind, ...PaymentSchemeKind } as const;
export type CapabilityKind = AccessScopeKind | PaymentSchemeKind;
registerEnumType(CapabilityKind, { name: 'Capability', description: 'Something an institution can do: an access scope or a payment scheme.' });

/** A bank (ASPSP) end users can connect. */
@ObjectType('Institution', { implements: Node, description: 'A bank (ASPSP) end users can connect.' })
export class InstitutionType extends Node {
  @Field(() => String)
  name!: string;

  @Field(() => String)
  bic!: string;

  /** ISO 3166-1 alpha-2 country code. */
  @Field(() => String, { description: 'ISO 3166-1 alpha-2 country code.' })
  country!: string;

  @Field(() => String, { nullable: true })
  logoUrl!: string | null;

  @Field(() => StandardKind)
  standard!: StandardKind;

  @Field(() => String, { description: 'Version of the standard the bank speaks, e.g. 1.3.12.' })
  standardVersion!: string;

  @Field(() => [AccessScopeKind])
  scopes!: AccessScopeKind[];

  @Field(() => [PaymentSchemeKind])
  paymentSchemes!: PaymentSchemeKind[];

  @Field(() => [ScaApproachKind])
  scaApproaches!: ScaApproachKind[];

  /** Longest consent validity the bank grants, in days. */
  @Field(() => Int, { description: 'Longest consent validity the bank grants, in days.' })
  maxConsentDays!: number;

  /** How far back the bank serves transactions, in days. */
  @Field(() => Int, { description: 'How far back the bank serves transactions, in days.' })
  maxHistoryDays!: number;

  /** Unattended (background) reads per consent and scope per day. */
  @Field(() => Int, { description: 'Unattended (background) reads per consent and scope per day.' })
  frequencyPerDay!: number;

  /** DIRECT, or the upstream aggregator the institution is reached through. */
  @Field(() => ReachKind, { description: 'DIRECT, or the upstream aggregator the institution is reached through (account information only: no payments).' })
  reachedThrough!: ReachKind;

  /** The upstream's own id of the institution; null for direct banks. */
  @Field(() => UpstreamInstitutionType, { nullable: true, description: 'The upstream’s own id of the institution; null for direct banks.' })
  upstream!: UpstreamInstitutionType | null;

  static from(i: InstitutionDescriptor): InstitutionType {
    const upstreamId = typeof i.quirks.upstreamInstitutionId === 'string' ? i.quirks.upstreamInstitutionId : null;
    const reach = standards.get(i.standard).reach;
    return Object.assign(new InstitutionType(), {
      id: toGlobalId('Institution', i.id),
      name: i.name,
      bic: i.bic,
      country: i.country,
      logoUrl: i.logoUrl,
      standard: i.standard,
      standardVersion: i.standardVersion,
      scopes: i.scopes as AccessScopeKind[],
      paymentSchemes: i.paymentSchemes as PaymentSchemeKind[],
      scaApproaches: i.scaApproaches as ScaApproachKind[],
      maxConsentDays: i.maxConsentDays,
      maxHistoryDays: i.maxHistoryDays,
      frequencyPerDay: i.frequencyPerDay,
      reachedThrough: reach ?? 'DIRECT',
      upstream: reach && upstreamId ? Object.assign(new UpstreamInstitutionType(), { provider: reach, institutionId: upstreamId }) : null,
    });
  }
}

export const InstitutionConnection = connectionType('Institution', InstitutionType);
