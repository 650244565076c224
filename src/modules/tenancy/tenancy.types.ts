import { Field, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../../api/relay/node';
import { connectionType } from '../../api/relay/connection';
import { UserError } from '../../api/user-errors';
import { toGlobalId } from '../../api/relay/global-id';
import type { ApiKey as ApiKeyEntity } from './api-key.entity';
import type { EndUser as EndUserEntity } from './end-user.entity';
import type { Tenant as TenantEntity } from './tenant.entity';

/** Whether a tenant and its keys work against sandbox banks or real ones. */
export enum EnvironmentKind {
  SANDBOX = 'sandbox',
  LIVE = 'live',
}
registerEnumType(EnvironmentKind, {
  name: 'Environment',
  description: 'Whether a tenant and its keys work against sandbox banks or real banks.',
});

/** An organisation using Passerelle; every object belongs to exactly one tenant. */
@ObjectType('Tenant', { implements: Node, description: 'An organisation using Passerelle; every object belongs to exactly one tenant.' })
export class TenantType extends Node {
  @Field(() => String)
  name!: string;

  @Field(() => EnvironmentKind)
  environment!: EnvironmentKind;

  @Field(() => Date)
  createdAt!: Date;

  /** Public handle other tenants of this gateway invite it by (access grants); null until set. */
  @Field(() => String, { nullable: true, description: 'Public handle other tenants of this gateway invite it by (access grants); null until set.' })
  handle!: string | null;

  internalId!: string;

  static from(t: TenantEntity): TenantType {
    return Object.assign(new TenantType(), {
      id: toGlobalId('Tenant', t.id),
      internalId: t.id,
      name: t.name,
      handle: t.handle,
      environment: t.environment as EnvironmentKind,
      createdAt: t.createdAt,
    });
  }
}

/** An API key of the tenant. The key itself is shown only once, when it is created. */
@ObjectType('ApiKey', { implements: Node, description: 'An API key of the tenant. The key itself is shown only once, when it is created.' })
export class ApiKeyType extends Node {
  @Field(() => String)
  name!: string;

  /** First characters of the key, to recognise it. */
  @Field(() => String, { description: 'First characters of the key, to recognise it.' })
  prefix!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;

  /** Last time the key authenticated a request (to the minute); null if never. */
  @Field(() => Date, { nullable: true, description: 'Last time the key authenticated a request (to the minute); null if never.' })
  lastUsedAt!: Date | null;

  static from(k: ApiKeyEntity): ApiKeyType {
    return Object.assign(new ApiKeyType(), {
      id: toGlobalId('ApiKey', k.id),
      name: k.name,
      prefix: k.prefix,
      createdAt: k.createdAt,
      revokedAt: k.revokedAt,
      lastUsedAt: k.lastUsedAt,
    });
  }
}

/** A person (PSU) the developer connects to banks, identified by the developer's own reference. */
@ObjectType('EndUser', { implements: Node, description: "A person (PSU) the developer connects to banks, identified by the developer's own reference." })
export class EndUserType extends Node {
  /** The developer's own id for this person; unique within the tenant. */
  @Field(() => String, { description: "The developer's own id for this person; unique within the tenant." })
  externalRef!: string;

  @Field(() => String, { nullable: true })
  displayName!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  static from(u: EndUserEntity): EndUserType {
    return Object.assign(new EndUserType(), {
      id: toGlobalId('EndUser', u.id),
      externalRef: u.externalRef,
      displayName: u.displayName,
      createdAt: u.createdAt,
    });
  }
}

export const ApiKeyConnection = connectionType('ApiKey', ApiKeyType);
export const EndUserConnection = connectionType('EndUser', EndUserType);

@InputType({ description: 'A new end user.' })
export class EndUserCreateInput {
  /** The developer's own id for this person (1–128 characters, unique within the tenant). */
  @Field(() => String, { description: "The developer's own id for this person (1–128 characters, unique within the tenant)." })
  externalRef!: string;

  @Field(() => String, { nullable: true, description: 'A name to show (at most 200 characters).' })
  displayName?: string | null;
}

@ObjectType()
export class EndUserCreatePayload {
  @Field(() => EndUserType, { nullable: true })
  endUser!: EndUserType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType({ description: 'A new API key for the calling tenant.' })
export class ApiKeyCreateInput {
  @Field(() => String, { description: 'What the key is for (1–200 characters).' })
  name!: string;
}

@ObjectType()
export class ApiKeyCreatePayload {
  @Field(() => ApiKeyType, { nullable: true })
  apiKey!: ApiKeyType | null;

  /** The key itself. Shown only in this answer: store it now. */
  @Field(() => String, { nullable: true, description: 'The key itself. Shown only in this answer: store it now.' })
  secret!: string | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class ApiKeyRevokePayload {
  @Field(() => ApiKeyType, { nullable: true })
  apiKey!: ApiKeyType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType({ description: 'A URI end users may be sent back to after authenticating at their bank.' })
export class RedirectUriInput {
  /** Absolute https URI (sandbox tenants may also use http://localhost or http://127.0.0.1); no fragment. */
  @Field(() => String, { description: 'Absolute https URI (sandbox tenants may also use http://localhost or http://127.0.0.1); no fragment.' })
  uri!: string;
}

/** What `tenantHandleSet` takes. */
@InputType('TenantHandleSetInput', { description: 'What tenantHandleSet takes.' })
export class TenantHandleSetInput {
  /** 3–40 lowercase letters, digits and single hyphens, starting with a letter; unique on the gateway. */
  @Field(() => String, { description: '3–40 lowercase letters, digits and single hyphens, starting with a letter; unique on the gateway.' })
  handle!: string;
}

@ObjectType({ description: 'The tenant after its handle changed.' })
export class TenantHandleSetPayload {
  @Field(() => TenantType, { nullable: true })
  tenant!: TenantType | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType({ description: "The tenant's redirect URI allow-list after the change." })
export class RedirectUrisPayload {
  @Field(() => [String], { nullable: true })
  redirectUris!: string[] | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}
