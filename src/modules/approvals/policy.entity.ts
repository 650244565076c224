import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';
import type { ApprovalRule } from './policy';

/** One version of an end user's approval policy; a new version never changes an older one. */
@Entity({ tableName: 'approval_policy' })
export class ApprovalPolicy {
  [OptionalProps]?: 'id' | 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => EndUser, deleteRule: 'cascade' })
  endUser!: EndUser;

  @Property({ type: 'integer' })
  version!: number;

  @Property({ type: 'json' })
  rules!: ApprovalRule[];

  @Property({ type: 'boolean' })
  allowSelfApproval!: boolean;

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();
}
