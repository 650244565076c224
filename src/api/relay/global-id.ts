import { parseGlobalId } from '../../kernel/ids';
import { ApiError, ErrorCode } from '../errors';

export { decodeGlobalId, parseGlobalId, toGlobalId } from '../../kernel/ids';

/** Decodes a global id that must name an object of `type`; otherwise a coded BAD_USER_INPUT. */
export function requireGlobalId(globalId: string, type: string, argument = 'id'): string {
  const parsed = parseGlobalId(globalId);
  if (!parsed || parsed.type !== type) {
    throw new ApiError(ErrorCode.BAD_USER_INPUT, `Argument "${argument}" is not a valid ${type} id.`, { argument });
  }
  return parsed.id;
}
