import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../kernel/errors';
import { errorBody, httpRequestError, requestScope } from './http-errors';
import type { Logger } from './logger';

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Gives every request an id (the caller's `X-Request-ID` when well-formed), echoes it, and makes
 * it available to error masking and logs through the request scope.
 */
export function requestId() {
  return (req: Request, res: Response, next: NextFunction) => {
    const given = req.header('x-request-id');
    const id = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-ID', id);
    res.locals.requestId = id;
    requestScope.run({ requestId: id }, next);
  };
}

/** `/healthz`: the process is up. `/readyz`: the database answers and migrations are current (and, with Redis configured, whether it is up). */
export function healthRoutes(ready: () => Promise<{ ok: boolean; pending: number; error?: string }>, redisUp?: () => boolean) {
  const router = express.Router();
  router.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  router.get('/readyz', async (_req, res) => {
    const r = await ready();
    res.status(r.ok ? 200 : 503).json({
      status: r.ok ? 'ready' : 'not ready',
      database: r.pending >= 0 ? 'up' : 'down',
      pendingMigrations: Math.max(r.pending, 0),
      // Reported, not required: without Redis events still arrive (log poll) and requests pass unlimited.
      ...(redisUp ? { redis: redisUp() ? 'up' : 'down' } : {}),
    });
  });
  return router;
}

/** Last error handler: body-parser failures become coded errors; anything else is masked. */
export function finalErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const coded = httpRequestError(err);
    if (coded) return void res.status(coded.status).json(coded.body);
    const requestId = res.locals.requestId as string | undefined;
    logger.error({ err, requestId, path: req.path }, 'unhandled HTTP error');
    res.status(500).json(errorBody(ErrorCode.INTERNAL_SERVER_ERROR, `Internal server error. Quote request id ${requestId} when reporting it.`, { requestId }));
  };
}
