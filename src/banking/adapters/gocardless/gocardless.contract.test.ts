import pino from 'pino';
import { runAdapterContract } from '../../../../test/contract/adapter-contract';
import { createGoCardlessAdapter } from './gocardless.adapter';

runAdapterContract('GoCardless Bank Account Data upstream (Nordlicht Bank through the sandbox upstream)', {
  bankId: 'gc-nordlicht',
  createAdapter: (run, institution) =>
    createGoCardlessAdapter({ institution, credentials: run.sandbox.clients['gc-nordlicht']!, redirectUri: run.callback, logger: pino({ level: 'silent' }) }),
});
