import { describe, expect, it } from 'vitest';
import { approvalsRequired, rulesSchema, type ApprovalRule } from './policy';

const rules: ApprovalRule[] = rulesSchema.parse([
  { approvals: 1 },
  { amountAbove: { amount: '10000', currency: 'EUR' }, approvals: 2 },
  { creditor: 'NEW', approvals: 1, additional: true },
]);
const eur = (amount: string, creditorKnown: boolean) => ({ amount, currency: 'EUR', scheme: 'SEPA_CREDIT_TRANSFER' as const, creditorKnown });

describe('approval policy rules', () => {
  it('ask one approver for a small payment to a known creditor', () => {
    expect(approvalsRequired(rules, eur('500.00', true))).toBe(1);
  });
  it('ask two approvers above 10,000 EUR and one more for a new creditor', () => {
    expect(approvalsRequired(rules, eur('10000.00', true))).toBe(1);
    expect(approvalsRequired(rules, eur('10000.01', true))).toBe(2);
    expect(approvalsRequired(rules, eur('10000.01', false))).toBe(3);
  });
  it('compare amounts only in the rule’s currency', () => {
    expect(approvalsRequired(rules, { amount: '20000.00', currency: 'GBP', scheme: 'FASTER_PAYMENTS', creditorKnown: true })).toBe(1);
  });
  it('refuse unknown fields, a zero count and more than twenty rules', () => {
    expect(rulesSchema.safeParse([{ approvals: 1, limit: 3 }]).success).toBe(false);
    expect(rulesSchema.safeParse([{ approvals: 0 }]).success).toBe(false);
    expect(rulesSchema.safeParse(Array.from({ length: 21 }, () => ({ approvals: 1 }))).success).toBe(false);
  });
});
