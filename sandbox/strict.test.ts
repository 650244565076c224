import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpecValidator } from './testing/spec-validator';
import { assertStet } from './testing/stet-schemas';
import { oauthClient, requestId, startSandbox, type Running } from './testing/harness';

const bgSpec = new SpecValidator('berlin-group-psd2-api-1.3.12.yaml');
const ukPis = new SpecValidator('uk-obie-3.1.11-payment-initiation.yaml');

let run: Running;
let lenientRun: Running;
beforeAll(async () => {
  run = await startSandbox();
  lenientRun = await startSandbox({
    lenient: { nordlicht: { accept: ['PSU-IP-Address'], why: 'test: a bank known to take consents without the PSU address' } },
  });
});
afterAll(async () => {
  await run?.close();
  await lenientRun?.close();
});

const consent = { access: { allPsd2: 'allAccounts' }, recurringIndicator: true, validUntil: '2027-03-01', frequencyPerDay: 4, combinedServiceIndicator: false };
const transfer = {
  debtorAccount: { iban: 'DE89370400440532013000' },
  instructedAmount: { currency: 'EUR', amount: '10.00' },
  creditorAccount: { iban: 'FR7630006000011234567890189' },
  creditorName: 'Boulangerie Martin',
};

async function post(url: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('strict sandbox banks: every request is held to the official file', () => {
  it('Berlin Group: a consent without PSU-IP-Address is refused 400 FORMAT_ERROR naming the header, in the spec error shape', async () => {
    const res = await post(`${run.bank('nordlicht').aisBaseUrl}/v1/consents`, consent, { 'x-request-id': requestId(), 'tpp-redirect-uri': run.callback });
    expect(res.status).toBe(400);
    bgSpec.assert('POST', '/v1/consents', 400, res.body);
    expect(res.body.tppMessages[0]).toMatchObject({ category: 'ERROR', code: 'FORMAT_ERROR', path: 'PSU-IP-Address' });
  });

  it('Berlin Group: a payment without debtorAccount and one with a numeric amount are refused, each naming the field', async () => {
    const url = `${run.bank('nordlicht').pisBaseUrl}/v1/payments/sepa-credit-transfers`;
    const headers = () => ({ 'x-request-id': requestId(), 'psu-ip-address': '192.0.2.1', 'tpp-redirect-uri': run.callback });
    const noDebtor = await post(url, { ...transfer, debtorAccount: undefined }, headers());
    expect(noDebtor.status).toBe(400);
    expect(noDebtor.body.tppMessages[0]).toMatchObject({ code: 'FORMAT_ERROR', path: 'debtorAccount' });
    const numeric = await post(url, { ...transfer, instructedAmount: { currency: 'EUR', amount: 10 } }, headers());
    expect(numeric.status).toBe(400);
    expect(numeric.body.tppMessages[0]).toMatchObject({ code: 'FORMAT_ERROR', path: 'instructedAmount.amount' });
    const ok = await post(url, transfer, headers());
    expect(ok.status).toBe(201);
  });

  it('Berlin Group: an IPv6 PSU-IP-Address breaks the file (format ipv4) and is refused', async () => {
    const res = await post(`${run.bank('nordlicht').aisBaseUrl}/v1/consents`, consent, {
      'x-request-id': requestId(),
      'psu-ip-address': '2001:db8::1',
      'tpp-redirect-uri': run.callback,
    });
    expect(res.status).toBe(400);
    expect(res.body.tppMessages[0].path).toBe('PSU-IP-Address');
  });

  it('a lenient bank, configured to reproduce a real bank, lets exactly the named field through', async () => {
    const res = await post(`${lenientRun.bank('nordlicht').aisBaseUrl}/v1/consents`, consent, {
      'x-request-id': requestId(),
      'tpp-redirect-uri': lenientRun.callback,
    });
    expect(res.status).toBe(201);
    const other = await post(
      `${lenientRun.bank('nordlicht').aisBaseUrl}/v1/consents`,
      { ...consent, combinedServiceIndicator: undefined },
      { 'x-request-id': requestId(), 'tpp-redirect-uri': lenientRun.callback },
    );
    expect(other.status).toBe(400);
    expect(other.body.tppMessages[0].path).toBe('combinedServiceIndicator');
  });

  it('UK: a date-time without an offset is UK.OBIE.Field.Invalid and a missing x-idempotency-key is UK.OBIE.Header.Missing, each with its Path', async () => {
    const config = await oauthClient(run, 'thames');
    const pis = await oidc.clientCredentialsGrant(config, { scope: 'payments' });
    const initiation = {
      InstructionIdentification: 'I-1',
      EndToEndIdentification: 'E2E-1',
      InstructedAmount: { Amount: '10.00', Currency: 'GBP' },
      CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40127612345678', Name: 'Kiosk' },
    };
    const missing = await post(
      `${run.bank('thames').pisBaseUrl}/domestic-payment-consents`,
      { Data: { Initiation: initiation }, Risk: {} },
      { authorization: `Bearer ${pis.access_token}` },
    );
    expect(missing.status).toBe(400);
    ukPis.assert('POST', '/domestic-payment-consents', 400, missing.body);
    expect(missing.body.Errors[0]).toMatchObject({ ErrorCode: 'UK.OBIE.Header.Missing', Path: 'x-idempotency-key' });

    const ais = await oidc.clientCredentialsGrant(config, { scope: 'accounts' });
    const res = await fetch(`${run.bank('thames').aisBaseUrl}/accounts/any/transactions?fromBookingDateTime=2026-09-07T00:00:00`, {
      headers: { authorization: `Bearer ${ais.access_token}` },
    });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.Errors[0]).toMatchObject({ ErrorCode: 'UK.OBIE.Field.Invalid', Path: 'fromBookingDateTime' });
  });

  it('STET: a payment request without the pain.001 fields STET 1.6 requires is refused in the STET error shape', async () => {
    const config = await oauthClient(run, 'rivage');
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'pisp' });
    const res = await post(
      `${run.bank('rivage').pisBaseUrl}/payment-requests`,
      {
        beneficiary: { creditor: { name: 'X' }, creditorAccount: { iban: 'FR7630006000011234567890189' } },
        creditTransferTransaction: [{ paymentId: { instructionId: 'I', endToEndId: 'E' }, instructedAmount: { currency: 'EUR', amount: '1.00' } }],
      },
      { authorization: `Bearer ${cc.access_token}`, 'x-request-id': requestId() },
    );
    expect(res.status).toBe(400);
    assertStet('error', res.body);
    expect(res.body.error).toBe('FORMAT_ERROR');
    expect(res.body.message).toContain('paymentInformationId');
  });
});
