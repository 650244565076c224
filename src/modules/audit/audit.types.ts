import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { GraphQLJSONObject } from 'graphql-scalars';
import { Node } from '../../api/relay/node';
import { connectionType } from '../../api/relay/connection';
import { toGlobalId } from '../../api/relay/global-id';
import type { AuditEvent } from './audit-event.entity';
import { AuditAction } from './audit.service';

registerEnumType(AuditAction, { name: 'AuditAction', description: 'What an audit journal entry records.' });

/** One entry of the tenant's audit journal: who did what to which resource, with outcome details (never payloads or secrets). */
@ObjectType('AuditEvent', {
  implements: Node,
  description: "One entry of the tenant's audit journal: who did what to which resource; never payloads or secrets.",
})
export class AuditEventType extends Node {
  @Field(() => Date)
  createdAt!: Date;

  @Field(() => AuditAction)
  action!: AuditAction;

  /** `apiKey:<global id>`, `tenant:<global id>` (another tenant, through an access grant), `endUser` (their browser at a bank redirect), or `system`. */
  @Field(() => String, {
    description:
      '`apiKey:<global id>`, `tenant:<global id>` (another tenant, through an access grant), `endUser` (their browser at a bank redirect), or `system`.',
  })
  actor!: string;

  /** Global id of the resource concerned, when there is one. */
  @Field(() => ID, { nullable: true, description: 'Global id of the resource concerned, when there is one.' })
  resourceId!: string | null;

  /** Identifiers and outcomes: for bank calls institutionId, operation, method, path, status, latencyMs, requestId, attempt, outcome, errorCode. */
  @Field(() => GraphQLJSONObject, {
    description: 'Identifiers and outcomes: for bank calls institutionId, operation, method, path, status, latencyMs, requestId, attempt, outcome, errorCode.',
  })
  details!: Record<string, unknown>;

  static from(e: AuditEvent): AuditEventType {
    return Object.assign(new AuditEventType(), {
      id: toGlobalId('AuditEvent', e.id),
      createdAt: e.createdAt,
      action: e.action as AuditAction,
      actor: e.actor.startsWith('apiKey:')
        ? `apiKey:${toGlobalId('ApiKey', e.actor.slice(7))}`
        : e.actor.startsWith('tenant:')
          ? `tenant:${toGlobalId('Tenant', e.actor.slice(7))}`
          : e.actor,
      resourceId: e.resourceType && e.resourceId ? toGlobalId(e.resourceType, e.resourceId) : null,
      details: e.details,
    });
  }
}

export const AuditEventConnection = connectionType('AuditEvent', AuditEventType);
