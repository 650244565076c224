import { Arg, Args, ArgsType, Ctx, Field, ID, Int, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../api/context';
import { ApiError, ErrorCode } from '../../api/errors';
import { ConnectionArgs, decodeCursor, pageSize, toConnection } from '../../api/relay/connection';
import { parseGlobalId, requireGlobalId } from '../../api/relay/global-id';
import { registerNodeType } from '../../api/relay/node';
import { MAX_EXPORT_PATH } from './proofs.service';
import { ProofExportFileType, ProofLinkType, ProofRecordConnection, ProofRecordType, ProofResultType } from './proofs.types';

registerNodeType('ProofRecord', async (ctx, id) => {
  const r = await ctx.services.proofs.get(ctx.caller, id);
  return r && ProofRecordType.from(r);
});

const DEFAULT_PATH = 100;

@ArgsType()
class ProofsArgs extends ConnectionArgs {
  @Field(() => ID, { description: 'The payment or consent (global id).' })
  subjectId!: string;
}

@Resolver(() => ProofRecordType)
export class ProofsResolver {
  @Query(() => ProofResultType, {
    nullable: true,
    description: 'A proof record and its chain path (from it towards the head). Null when the tenant has no such record.',
  })
  async proof(
    @Arg('id', () => ID) id: string,
    @Arg('pathFirst', () => Int, { nullable: true, description: `Links of the path to return (1–${MAX_EXPORT_PATH}, default ${DEFAULT_PATH}).` })
    pathFirst: number | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<ProofResultType | null> {
    const limit = pathFirst ?? DEFAULT_PATH;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EXPORT_PATH) {
      throw new ApiError(ErrorCode.BAD_USER_INPUT, `Argument "pathFirst" must be between 1 and ${MAX_EXPORT_PATH}.`, { argument: 'pathFirst' });
    }
    const record = await ctx.services.proofs.get(ctx.caller, requireGlobalId(id, 'ProofRecord'));
    if (!record) return null;
    const path = await ctx.services.proofs.path(ctx.caller, record, limit);
    return Object.assign(new ProofResultType(), {
      record: ProofRecordType.from(record),
      chainPath: path.slice(0, limit).map(ProofLinkType.from),
      chainPathComplete: path.length <= limit,
      headSeq: await ctx.services.proofs.headSeq(ctx.caller.tenantId),
    });
  }

  @Query(() => ProofRecordConnection, { description: 'The proof records of one payment or consent, oldest first.' })
  async proofs(@Args(() => ProofsArgs) args: ProofsArgs, @Ctx() ctx: GraphQLContext) {
    const subject = parseGlobalId(args.subjectId);
    if (!subject || (subject.type !== 'Payment' && subject.type !== 'Consent')) {
      throw new ApiError(ErrorCode.BAD_USER_INPUT, 'Argument "subjectId" is not a valid Payment or Consent id.', { argument: 'subjectId' });
    }
    const limit = pageSize(args.first);
    const after = args.after ? decodeCursor('ProofRecord', args.after) : undefined;
    const rows = await ctx.services.proofs.list(ctx.caller, subject.id, limit, after);
    return toConnection('ProofRecord', rows, limit, !!after, ProofRecordType.from);
  }

  @Query(() => ProofExportFileType, {
    nullable: true,
    description: `A proof record as a file to keep and check offline (\`npm run proof:verify -- FILE\`): the record, the chain from it towards the head (at most ${MAX_EXPORT_PATH} links), signed by the tenant's proof-signing key. Null when the tenant has no such record.`,
  })
  async proofExport(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ProofExportFileType | null> {
    const exported = await ctx.services.proofs.export(ctx.caller, requireGlobalId(id, 'ProofRecord'));
    if (!exported) return null;
    return Object.assign(new ProofExportFileType(), {
      fileName: `proof-${exported.recordId}.json`,
      content: JSON.stringify(exported, null, 2),
      jwksUrl: exported.anchor.jwksUrl,
    });
  }
}
