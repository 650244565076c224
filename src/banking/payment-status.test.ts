import { describe, expect, it } from 'vitest';
import { isoPaymentStatus, isTerminalPaymentStatus, normaliseReasonCode, reasonCodeInText, ukPaymentStatus } from './payment-status';

describe('payment status mapping', () => {
  it('maps ISO 20022 codes to the normalised status, keeping the bank’s word', () => {
    const after = (raw: string) => isoPaymentStatus(raw, { authorised: true }).status;
    expect(['RCVD', 'PDNG', 'PATC'].map(after)).toEqual(['PENDING', 'PENDING', 'PENDING']);
    expect(['ACTC', 'ACCP', 'ACWC', 'ACFC', 'ACSP'].map(after)).toEqual(Array(5).fill('ACCEPTED'));
    expect(['ACSC', 'ACCC'].map(after)).toEqual(['EXECUTED', 'EXECUTED']);
    expect(after('RJCT')).toBe('REJECTED');
    expect(after('CANC')).toBe('CANCELLED');
    expect(isoPaymentStatus('acsc', { authorised: true })).toEqual({ status: 'EXECUTED', rawStatus: 'acsc', reasonCode: null });
  });

  it('says AUTHORIZATION_REQUIRED for a received payment the end user has not authorised yet', () => {
    for (const raw of ['RCVD', 'PDNG', 'PATC']) expect(isoPaymentStatus(raw, { authorised: false }).status).toBe('AUTHORIZATION_REQUIRED');
    // Later states do not depend on SCA.
    expect(isoPaymentStatus('ACTC', { authorised: false }).status).toBe('ACCEPTED');
  });

  it('keeps ISO reason codes and drops free text where a code belongs', () => {
    expect(isoPaymentStatus('RJCT', { authorised: true, reasonCode: 'AM04' })).toEqual({ status: 'REJECTED', rawStatus: 'RJCT', reasonCode: 'AM04' });
    for (const code of ['AC04', 'DS02', 'AB05']) expect(normaliseReasonCode(code)).toBe(code);
    expect(normaliseReasonCode('insufficient funds')).toBeNull();
    expect(normaliseReasonCode('FUNDS_NOT_AVAILABLE')).toBeNull();
    expect(reasonCodeInText('AM04: rejected by the bank')).toBe('AM04');
    expect(reasonCodeInText('Sent back: AM04')).toBeNull();
    expect(reasonCodeInText(undefined)).toBeNull();
  });

  it('reports an unknown code as PENDING (still polled), never as an outcome', () => {
    expect(isoPaymentStatus('XYZW', { authorised: true })).toEqual({ status: 'PENDING', rawStatus: 'XYZW', reasonCode: null });
    expect(ukPaymentStatus('SomethingNew', { authorised: true }).status).toBe('PENDING');
  });

  it('maps UK Open Banking consent and payment words, and 4.0 ISO codes', () => {
    const uk = (raw: string) => ukPaymentStatus(raw, { authorised: true });
    expect(ukPaymentStatus('AwaitingAuthorisation', { authorised: false }).status).toBe('AUTHORIZATION_REQUIRED');
    expect(uk('Authorised').status).toBe('PENDING');
    expect(uk('Consumed').status).toBe('ACCEPTED');
    expect(uk('Pending').status).toBe('PENDING');
    expect(uk('AcceptedSettlementInProcess').status).toBe('ACCEPTED');
    expect(uk('AcceptedSettlementCompleted')).toEqual({ status: 'EXECUTED', rawStatus: 'AcceptedSettlementCompleted', reasonCode: null });
    expect(uk('AcceptedCreditSettlementCompleted').status).toBe('EXECUTED');
    expect(uk('Rejected').status).toBe('REJECTED');
    expect(ukPaymentStatus('AWAU', { authorised: false }).status).toBe('AUTHORIZATION_REQUIRED');
    expect(uk('ACSC').status).toBe('EXECUTED');
    expect(uk('RJCT').status).toBe('REJECTED');
  });

  it('knows which statuses are final', () => {
    expect(['EXECUTED', 'REJECTED', 'CANCELLED', 'FAILED'].every((s) => isTerminalPaymentStatus(s as never))).toBe(true);
    expect(['AUTHORIZATION_REQUIRED', 'PENDING', 'ACCEPTED'].some((s) => isTerminalPaymentStatus(s as never))).toBe(false);
  });
});
