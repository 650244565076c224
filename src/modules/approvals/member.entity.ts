import { Entity, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { EndUser } from '../tenancy/end-user.entity';
import { Tenant } from '../tenancy/tenant.entity';

/** What a member may do in their end user's payments. */
export type MemberRole = 'REQUESTER' | 'APPROVER' | 'ACCOUNTANT' | 'VIEWER';
export const MEMBER_ROLES: readonly MemberRole[] = ['REQUESTER', 'APPROVER', 'ACCOUNTANT', 'VIEWER'];

/** A person of an end user (an SME): who asks for payments, who signs them off, who watches. */
@Entity({ tableName: 'approval_member' })
export class ApprovalMember {
  [OptionalProps]?: 'id' | 'createdAt' | 'email';

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => Tenant, deleteRule: 'cascade' })
  tenant!: Tenant;

  @ManyToOne({ entity: () => EndUser, deleteRule: 'cascade' })
  endUser!: EndUser;

  @Property({ type: 'string', length: 140 })
  name!: string;

  @Property({ type: 'string', length: 254, nullable: true })
  email: string | null = null;

  @Property({ type: 'json' })
  roles!: MemberRole[];

  @Property({ type: 'Date', columnType: 'timestamptz(3)' })
  createdAt: Date = new Date();
}
