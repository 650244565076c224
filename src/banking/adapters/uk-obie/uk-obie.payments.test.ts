import pino from 'pino';
import { runPaymentContract } from '../contract';
import { createUkObieAdapter } from './uk-obie.adapter';

runPaymentContract('UK Open Banking (Thames & Harbour Bank, 3.1.11)', {
  bankId: 'thames',
  scheme: 'FASTER_PAYMENTS',
  currency: 'GBP',
  creditorIban: 'GB33BUKB20201555555555',
  // UK 3.1 rejects the consent of a PSU who declines without any reason field.
  refusalReason: null,
  createAdapter: (run, institution) =>
    createUkObieAdapter({ institution, credentials: run.sandbox.clients.thames, redirectUri: run.callback, logger: pino({ level: 'silent' }) }),
});
