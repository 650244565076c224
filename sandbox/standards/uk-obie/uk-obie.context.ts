import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Bank } from '../../core/bank';
import { BankError } from '../../core/errors';
import { checkDetached } from '../../core/jws';
import type { addSigningIdentity } from './uk-obie.identity';

/** An ISO 8601 date-time, as OBIE fields carry them. */
export const ISO_DT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;
/** A time as OBIE writes it (seconds, +00:00). */
export const dt = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

/**
 * What every UK OBIE route file shares: the bank, its paths, the TPP signature check, the token
 * checks and the Data/Links/Meta envelope.
 */
export function ukObieContext(bank: Bank, keys: Pick<ReturnType<typeof addSigningIdentity>, 'tppKey' | 'tppIss'>) {
  const { tppKey, tppIss } = keys;
  const api = bank.api;
  const aisPath = bank.def.aisPath;
  const pisPath = bank.def.pisPath;
  const ais = bank.info.aisBaseUrl;
  const pis = bank.info.pisBaseUrl;
  const base = bank.info.apiBaseUrl;

  /** The TPP's signature over the exact body; refused as a UK bank does (400, UK.OBIE.Signature.*). */
  const requireSignature = async (req: Request, res: Response): Promise<boolean> => {
    const raw = (req as Request & { rawBody?: Buffer }).rawBody?.toString('utf8') ?? '';
    const problem = await checkDetached(req.get('x-jws-signature'), raw, { publicKey: tppKey.publicKey, kid: tppKey.kid, iss: tppIss, nowMs: Date.now() });
    if (!problem) return true;
    res.status(400).json({
      Code: 'SIGNATURE_INVALID',
      Id: req.get('x-fapi-interaction-id') ?? randomUUID(),
      Message: problem.message,
      Errors: [{ ErrorCode: problem.code, Message: problem.message, Path: 'x-jws-signature' }],
    });
    return false;
  };

  const clientToken = async (req: Request, scope: string) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (token.kind !== 'client') throw new BankError('TOKEN_INVALID', 'A client-credentials token is required here.', 401);
    if (!token.scope.split(' ').includes(scope)) throw new BankError('TOKEN_INVALID', `The token lacks the ${scope} scope.`, 401);
    return token;
  };
  const userToken = async (req: Request) => {
    const token = await bank.bearer(req);
    if (!token) throw new BankError('TOKEN_INVALID', 'An access token is required.', 401);
    if (token.kind !== 'user') throw new BankError('TOKEN_INVALID', 'A PSU access token is required here.', 401);
    return token;
  };

  const wrap = (data: unknown, self: string, meta: Record<string, unknown> = {}) => ({ Data: data, Links: { Self: self }, Meta: meta });

  return { bank, api, aisPath, pisPath, ais, pis, base, requireSignature, clientToken, userToken, wrap };
}

/** The shared helpers of one UK OBIE bank. */
export type UkObieContext = ReturnType<typeof ukObieContext>;
