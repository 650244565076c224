import pino from 'pino';
import { runAdapterContract } from '../../../../test/contract/adapter-contract';
import { createUkObieAdapter } from './uk-obie.adapter';

runAdapterContract('UK Open Banking (Thames & Harbour Bank, 3.1.11)', {
  bankId: 'thames',
  createAdapter: (run, institution) => createUkObieAdapter({ institution, credentials: run.sandbox.clients.thames, logger: pino({ level: 'silent' }) }),
});
