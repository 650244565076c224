import pino from 'pino';
import { runAdapterContract } from '../../../../test/contract/adapter-contract';
import { createStetAdapter } from './stet.adapter';

runAdapterContract('STET (Banque du Rivage)', {
  bankId: 'rivage',
  createAdapter: (run, institution) =>
    createStetAdapter({ institution, credentials: run.sandbox.clients.rivage!, redirectUri: run.callback, logger: pino({ level: 'silent' }) }),
});
