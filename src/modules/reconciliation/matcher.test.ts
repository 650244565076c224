import { describe, expect, it } from 'vitest';
import { AUTO_CONFIRM_CONFIDENCE, MatchIndex, matchTransactions, nameSimilarity, type OpenItem, type TxForMatch } from './matcher';
import { newCreditorReference, normaliseReference } from './reference';

let n = 0;
function item(over: Partial<OpenItem> = {}): OpenItem {
  n++;
  return {
    id: `ep-${n}`,
    endUserId: 'u1',
    direction: 'INCOMING',
    currency: 'EUR',
    amount: 10_000n,
    open: over.amount ?? 10_000n,
    paid: 0n,
    toleranceAmount: 0n,
    toleranceDays: 0,
    dueDate: '2026-12-01',
    accountId: null,
    counterpartyName: 'Acme SARL',
    counterpartyIban: 'FR7630006000011234567890189',
    reference: normaliseReference(`INV-2026-${String(n).padStart(4, '0')}`),
    creditorReference: newCreditorReference(),
    ...over,
  };
}
function tx(over: Partial<TxForMatch> = {}): TxForMatch {
  n++;
  return {
    id: `tx-${n}`,
    accountId: 'a1',
    endUserId: 'u1',
    amount: 10_000n,
    currency: 'EUR',
    date: '2026-12-02',
    counterpartyName: null,
    counterpartyIban: null,
    remittance: null,
    endToEndId: null,
    ...over,
  };
}

describe('matcher', () => {
  it('confirms a transaction carrying an RF reference with the exact amount automatically', () => {
    const a = item();
    const [p] = matchTransactions([tx({ remittance: `Payment ${a.creditorReference!.replace(/(.{4})/g, '$1 ')}` })], new MatchIndex([a, item()]));
    expect(p!.rule).toBe('STRUCTURED_REFERENCE');
    expect(p!.confidence).toBeGreaterThanOrEqual(AUTO_CONFIRM_CONFIDENCE);
    expect(p!.allocations).toEqual([{ expectedPaymentId: a.id, amount: 10_000n }]);
    expect(p!.agreeingFields).toContain('amount');
  });

  it('finds the invoice reference in remittance text whatever the case and separators', () => {
    const a = item({ reference: normaliseReference('INV-2026/0042') });
    const [p] = matchTransactions([tx({ remittance: 'facture inv 2026 0042 merci' })], new MatchIndex([a]));
    expect(p!.rule).toBe('REFERENCE_TEXT');
    expect(p!.allocations[0]!.expectedPaymentId).toBe(a.id);
  });

  it('does not take INV12345 for INV1234', () => {
    const a = item({ reference: 'INV1234' });
    expect(matchTransactions([tx({ remittance: 'INV12345', amount: 9_999n })], new MatchIndex([a]))).toEqual([]);
  });

  it('suggests, never confirms, a truncated or mistyped reference', () => {
    const a = item();
    const b = item();
    const rfB = b.creditorReference!;
    const typo = `${rfB.slice(0, 6)}${rfB[6] === 'X' ? 'Y' : 'X'}${rfB.slice(7)}`;
    const ps = matchTransactions([tx({ remittance: `Paiement ${a.creditorReference!.slice(0, 10)}` }), tx({ remittance: typo })], new MatchIndex([a, b]));
    expect(ps.map((p) => [p.rule, p.allocations[0]!.expectedPaymentId])).toEqual([
      ['REFERENCE_FUZZY', a.id],
      ['REFERENCE_FUZZY', b.id],
    ]);
    for (const p of ps) expect(p.confidence).toBeLessThan(AUTO_CONFIRM_CONFIDENCE);
  });

  it('splits one transaction over the several invoices it names (a grouped payment)', () => {
    const a = item({ amount: 10_000n });
    const b = item({ amount: 5_050n });
    const [p] = matchTransactions([tx({ amount: 15_050n, remittance: `${a.creditorReference} ${b.creditorReference}` })], new MatchIndex([a, b]));
    expect(p!.allocations).toEqual([
      { expectedPaymentId: a.id, amount: 10_000n },
      { expectedPaymentId: b.id, amount: 5_050n },
    ]);
    expect(p!.confidence).toBeGreaterThanOrEqual(AUTO_CONFIRM_CONFIDENCE);
  });

  it('counts instalments against one invoice until it is paid, never twice', () => {
    const a = item({ amount: 10_000n });
    const index = new MatchIndex([a]);
    const ps = matchTransactions([tx({ amount: 4_000n, remittance: a.creditorReference }), tx({ amount: 6_000n, remittance: a.creditorReference })], index);
    expect(ps.map((p) => p.allocations[0]!.amount)).toEqual([4_000n, 6_000n]);
    expect(a.open).toBe(0n);
  });

  it('accepts bank fees deducted within the tolerance as full payment', () => {
    const a = item({ amount: 10_000n, toleranceAmount: 150n });
    const [p] = matchTransactions([tx({ amount: 9_880n, remittance: a.creditorReference })], new MatchIndex([a]));
    expect(p!.agreeingFields).toContain('amount');
    expect(p!.confidence).toBeGreaterThanOrEqual(AUTO_CONFIRM_CONFIDENCE);
  });

  it('tells two payers of the same amount apart by IBAN, and only suggests it', () => {
    const a = item({ counterpartyIban: 'DE89370400440532013000', reference: null, creditorReference: null });
    const b = item({ counterpartyIban: 'FR7630006000011234567890189', reference: null, creditorReference: null });
    const [p] = matchTransactions([tx({ counterpartyIban: 'FR76 3000 6000 0112 3456 7890 189' })], new MatchIndex([a, b]));
    expect(p!.rule).toBe('AMOUNT_IBAN');
    expect(p!.allocations[0]!.expectedPaymentId).toBe(b.id);
    expect(p!.confidence).toBeLessThan(AUTO_CONFIRM_CONFIDENCE);
  });

  it('suggests by amount and a similar name only within the date window', () => {
    const a = item({ counterpartyName: 'Müller GmbH', counterpartyIban: null, reference: null, creditorReference: null, dueDate: '2026-12-01' });
    expect(matchTransactions([tx({ counterpartyName: 'MULLER', date: '2027-06-01' })], new MatchIndex([a]))).toEqual([]);
    const [p] = matchTransactions([tx({ counterpartyName: 'MULLER', date: '2026-12-20' })], new MatchIndex([a]));
    expect(p!.rule).toBe('AMOUNT_NAME');
  });

  it('takes a paid amount back when a reversal carries the reference the other way', () => {
    const a = item({ open: 0n, paid: 10_000n });
    const [p] = matchTransactions([tx({ amount: -10_000n, remittance: `RETURN ${a.creditorReference}` })], new MatchIndex([a]));
    expect(p!.rule).toBe('REVERSAL');
    expect(p!.allocations).toEqual([{ expectedPaymentId: a.id, amount: -10_000n }]);
    expect(a.open).toBe(10_000n);
  });

  it('matches a debit to the gateway payment with its end-to-end id', () => {
    const [p] = matchTransactions([tx({ amount: -2_500n, endToEndId: 'E2E-1' })], new MatchIndex([]), [
      { id: 'pay-1', endUserId: 'u1', endToEndId: 'E2E-1', amount: 2_500n, currency: 'EUR' },
    ]);
    expect(p).toMatchObject({ paymentId: 'pay-1', rule: 'END_TO_END_ID', confidence: 1 });
  });

  it("never matches another end user's or another currency's items", () => {
    const a = item({ endUserId: 'u2' });
    const b = item({ currency: 'GBP' });
    expect(matchTransactions([tx({ remittance: a.creditorReference }), tx({ remittance: b.creditorReference })], new MatchIndex([a, b]))).toEqual([]);
  });

  it('scores names by their words, ignoring legal forms and accents', () => {
    expect(nameSimilarity('Société Générale SA', 'SOCIETE GENERALE')).toBe(1);
    expect(nameSimilarity('Acme Ltd', 'Zenith Ltd')).toBeLessThan(0.5);
  });
});
