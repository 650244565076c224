import express, { type Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ApprovalsService } from './approvals.service';

/** The approvals' hosted pages: passkey registration and passkey approval of a payment. */
export function approvalRoutes(_deps: { orm: MikroORM; approvals: ApprovalsService; publicUrl: string }): Router {
  return express.Router();
}
