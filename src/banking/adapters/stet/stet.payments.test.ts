import pino from 'pino';
import { runPaymentContract } from '../contract';
import { createStetAdapter } from './stet.adapter';

runPaymentContract('STET (Banque du Rivage)', {
  bankId: 'rivage',
  scheme: 'SEPA_CREDIT_TRANSFER',
  currency: 'EUR',
  creditorIban: 'FR7630006000011234567890189',
  refusalReason: 'DS02',
  createAdapter: (run, institution) =>
    createStetAdapter({ institution, credentials: run.sandbox.clients.rivage!, redirectUri: run.callback, logger: pino({ level: 'silent' }) }),
});
