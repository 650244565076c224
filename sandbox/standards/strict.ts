import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Bank } from '../core/bank';
import { BankError } from '../core/errors';
import { describeIssue, standingIssues, type OpenApiSpec, type SpecIssue } from '../core/openapi';
export type { Lenience } from '../core/bank-types';

/**
 * Answers any request the official file forbids as a strict bank does: 400 in the standard's
 * dialect, naming the offending field (BG `tppMessages[].path`, UK `Errors[].Path`). Requests for
 * operations the file does not declare pass through (the routes answer 404 or handle them).
 */
/**
 * Headers another check owns: `Authorization` (the routes answer 401, as banks do before any
 * schema check) and `x-jws-signature` (checked, presence included, by the bank's JWS signature
 * verification — the UK signing part of issue 15 — not by the schema).
 */
const CHECKED_ELSEWHERE = new Set(['authorization', 'x-jws-signature']);

/**
 * `ownQueryParams`: query parameters the bank puts in its own links (paging, `page`): the files
 * leave those links' form to the bank, so a parameter the bank itself issued is not refused.
 */
export function strictRequests(bank: Bank, specs: Promise<OpenApiSpec>[], ownQueryParams: string[] = ['page']): RequestHandler {
  const own = new Set(ownQueryParams);
  const accepted = new Set((bank.def.lenient?.accept ?? []).map((f) => f.toLowerCase()));
  const rawQuery = (req: Request) => {
    const i = req.originalUrl.indexOf('?');
    return i < 0 ? '' : req.originalUrl.slice(i + 1);
  };
  return async (req: Request, _res: Response, next: NextFunction) => {
    for (const pending of specs) {
      const spec = await pending;
      const { operation, issues } = spec.checkRequest({ method: req.method, path: req.path, query: rawQuery(req), headers: req.headers, body: req.body });
      if (!operation) continue;
      const blocking = standingIssues(
        issues,
        (i: SpecIssue) =>
          (i.in === 'header' && CHECKED_ELSEWHERE.has(i.name.toLowerCase())) || (i.in === 'query' && own.has(i.name)) || accepted.has(i.name.toLowerCase()),
      );
      if (blocking.length === 0) return next();
      const [first] = blocking as [SpecIssue, ...SpecIssue[]];
      bank.log.info({ operation: operation.operationId, issues: blocking.map(describeIssue) }, 'request refused: it breaks the official file');
      throw new BankError(
        first.in === 'header' && first.missing ? 'HEADER_MISSING' : 'FORMAT_ERROR',
        `The request does not conform to ${spec.id} (${operation.operationId}): ${blocking.slice(0, 5).map(describeIssue).join('; ')}.`,
        400,
        { path: first.name },
      );
    }
    next();
  };
}
