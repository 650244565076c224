// Generated reconciliation data with known truth, shared by the benchmark and the scoring test.
import { planCustomerPayments, prng, randomIban, randomName, type CustomerPaymentsPlan, type ExpectedForSandbox } from '../sandbox/customer-payments';
import { newCreditorReference } from '../src/modules/reconciliation/reference';

/** The sandbox's seeded PRNG, so generated data is the same run after run. */
export const seeded = prng;

const addDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/**
 * `count` expected payments as an invoicing app would create them: 85 % incoming (with RF), amounts
 * from 5 to 5,000 EUR (some repeated: subscriptions), a few hundred customers each with name and
 * IBAN known for most, due dates over the last 90 days.
 */
export function expectedPayments(count: number, seed: number, today: string): (ExpectedForSandbox & { toleranceAmount: string })[] {
  const rnd = seeded(seed);
  const customers = Array.from({ length: Math.max(10, Math.floor(count / 8)) }, () => ({ name: randomName(rnd), iban: randomIban(rnd) }));
  const prices = [990, 1990, 4900, 9900, 12000, 25000];
  return Array.from({ length: count }, (_, i) => {
    const c = customers[Math.floor(rnd() * customers.length)]!;
    const incoming = rnd() < 0.85;
    const cents = rnd() < 0.3 ? prices[Math.floor(rnd() * prices.length)]! : 500 + Math.floor(rnd() * 500_000);
    return {
      id: `ep-${seed}-${i}`,
      direction: incoming ? 'INCOMING' : 'OUTGOING',
      amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
      dueDate: addDays(today, -Math.floor(rnd() * 90)),
      creditorReference: incoming ? newCreditorReference() : null,
      invoiceReference: `INV-${2026}-${String(seed % 100).padStart(2, '0')}${String(i).padStart(6, '0')}`,
      counterpartyName: rnd() < 0.9 ? c.name : null,
      counterpartyIban: rnd() < 0.7 ? c.iban : null,
      toleranceAmount: '2.00',
    };
  });
}

export function plan(expected: ExpectedForSandbox[], seed: number, today: string, distractorRatio: number): CustomerPaymentsPlan {
  return planCustomerPayments(expected, { seed, today, distractorRatio });
}
