import { z } from 'zod';
import type { PaymentScheme } from '../../banking/model';
import { compareDecimal } from '../transactions';

/**
 * One rule of an approval policy: when every condition given holds for a payment, `approvals`
 * distinct APPROVERs must sign it. A rule with `additional` adds its approvals to what the other
 * matching rules ask for ("new creditor: one more"); otherwise the largest matching count holds
 * ("above 10,000 EUR: two"). No matching rule: the payment needs no approval.
 */
export interface ApprovalRule {
  /** Applies to payments strictly above this amount, in this currency only (no conversion). */
  amountAbove: { amount: string; currency: string } | null;
  /** Applies to payments in one of these currencies. */
  currencies: string[] | null;
  /** NEW: no earlier payment of the end user to this IBAN was executed or accepted; KNOWN: one was. */
  creditor: 'NEW' | 'KNOWN' | null;
  schemes: PaymentScheme[] | null;
  approvals: number;
  additional: boolean;
}

/** What a rule looks at. */
export interface PaymentFacts {
  amount: string;
  currency: string;
  scheme: PaymentScheme;
  creditorKnown: boolean;
}

export const MAX_RULES = 20;
export const MAX_APPROVALS = 10;

const decimal = z.string().regex(/^\d{1,18}(\.\d{1,8})?$/, { message: 'INVALID_AMOUNT:a non-negative decimal string such as "10000.00"' });
const currency = z.string().regex(/^[A-Z]{3}$/, { message: 'UNKNOWN_CURRENCY:an ISO 4217 code such as EUR' });
const scheme = z.enum(['SEPA_CREDIT_TRANSFER', 'SEPA_INSTANT', 'FASTER_PAYMENTS']);

const ruleSchema = z
  .object({
    amountAbove: z.object({ amount: decimal, currency }).nullable().default(null),
    currencies: z.array(currency).min(1).max(10).nullable().default(null),
    creditor: z.enum(['NEW', 'KNOWN']).nullable().default(null),
    schemes: z.array(scheme).min(1).max(3).nullable().default(null),
    approvals: z
      .number()
      .int()
      .min(1, { message: 'OUT_OF_RANGE:at least 1' })
      .max(MAX_APPROVALS, { message: `OUT_OF_RANGE:at most ${MAX_APPROVALS}` }),
    additional: z.boolean().default(false),
  })
  .strict();

/** A policy's rules as sent: bounded in count and size, each field checked. */
export const rulesSchema = z
  .array(ruleSchema)
  .min(1, { message: 'BLANK:a policy has at least one rule' })
  .max(MAX_RULES, { message: `LIMIT_REACHED:at most ${MAX_RULES} rules` });

function matches(rule: ApprovalRule, p: PaymentFacts): boolean {
  if (rule.amountAbove && (rule.amountAbove.currency !== p.currency || compareDecimal(p.amount, rule.amountAbove.amount) <= 0)) return false;
  if (rule.currencies && !rule.currencies.includes(p.currency)) return false;
  if (rule.creditor && (rule.creditor === 'KNOWN') !== p.creditorKnown) return false;
  if (rule.schemes && !rule.schemes.includes(p.scheme)) return false;
  return true;
}

/** How many distinct approvers the rules ask for this payment (0: none). */
export function approvalsRequired(rules: readonly ApprovalRule[], p: PaymentFacts): number {
  let base = 0;
  let extra = 0;
  for (const rule of rules) {
    if (!matches(rule, p)) continue;
    if (rule.additional) extra += rule.approvals;
    else base = Math.max(base, rule.approvals);
  }
  return base + extra;
}
