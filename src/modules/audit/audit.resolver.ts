import { Args, ArgsType, Ctx, Field, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { AuditAction } from './audit.service';
import { AuditEventConnection, AuditEventType } from './audit.types';

@ArgsType()
class AuditEventsArgs extends ConnectionArgs {
  @Field(() => AuditAction, { nullable: true, description: 'Only entries of this action.' })
  action?: AuditAction | null;
}

@Resolver(() => AuditEventType)
export class AuditResolver {
  @Query(() => AuditEventConnection, { description: "The tenant's audit journal, oldest first." })
  async auditEvents(@Args(() => AuditEventsArgs) args: AuditEventsArgs, @Ctx() ctx: GraphQLContext) {
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('AuditEvent', args.after) : undefined;
    const rows = await ctx.services.audit.list(ctx.em, ctx.caller, args.action, limit + 1, after);
    return toConnection('AuditEvent', rows, limit, !!after, AuditEventType.from);
  }
}
