import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { ConsentEvent as E, ConsentStatus as S, ConsentTransitionError, consentTransitions, finalConsentStatuses, nextConsentStatus } from './consent.state';

// The table of docs/consent-states.md, restated independently: the code must match it exactly.
const allowed: [S, E, S][] = [
  [S.PENDING_AUTHORIZATION, E.AUTHORISED, S.ACTIVE],
  [S.PENDING_AUTHORIZATION, E.AUTHORISATION_REJECTED, S.REJECTED],
  [S.PENDING_AUTHORIZATION, E.AUTHORISATION_ABANDONED, S.EXPIRED],
  [S.PENDING_AUTHORIZATION, E.REVOKED, S.REVOKED],
  [S.ACTIVE, E.EXPIRY_APPROACHING, S.EXPIRING],
  [S.ACTIVE, E.VALIDITY_ENDED, S.EXPIRED],
  [S.ACTIVE, E.BANK_REPORTED_INVALID, S.REAUTH_REQUIRED],
  [S.ACTIVE, E.RENEWAL_AUTHORISED, S.ACTIVE],
  [S.ACTIVE, E.REVOKED, S.REVOKED],
  [S.EXPIRING, E.VALIDITY_ENDED, S.EXPIRED],
  [S.EXPIRING, E.BANK_REPORTED_INVALID, S.REAUTH_REQUIRED],
  [S.EXPIRING, E.RENEWAL_AUTHORISED, S.ACTIVE],
  [S.EXPIRING, E.REVOKED, S.REVOKED],
  [S.EXPIRED, E.RENEWAL_AUTHORISED, S.ACTIVE],
  [S.EXPIRED, E.REVOKED, S.REVOKED],
  [S.REAUTH_REQUIRED, E.RENEWAL_AUTHORISED, S.ACTIVE],
  [S.REAUTH_REQUIRED, E.VALIDITY_ENDED, S.EXPIRED],
  [S.REAUTH_REQUIRED, E.REVOKED, S.REVOKED],
];

describe('consent state machine', () => {
  it.each(allowed)('moves %s on %s to %s', (from, event, to) => {
    expect(nextConsentStatus(from, event)).toBe(to);
  });

  it('refuses every other pair of status and event with a coded error', () => {
    const ok = new Set(allowed.map(([f, e]) => `${f}/${e}`));
    let refused = 0;
    for (const from of Object.values(S)) {
      for (const event of Object.values(E)) {
        if (ok.has(`${from}/${event}`)) continue;
        expect(() => nextConsentStatus(from, event)).toThrow(ConsentTransitionError);
        refused++;
      }
    }
    expect(refused).toBe(Object.values(S).length * Object.values(E).length - allowed.length);
  });

  it('leaves REJECTED and REVOKED for nothing', () => {
    for (const final of finalConsentStatuses) {
      for (const t of Object.values(consentTransitions)) expect(t.from).not.toContain(final);
    }
  });

  it('is documented: every transition appears in docs/consent-states.md', () => {
    const doc = fs.readFileSync(path.resolve(import.meta.dirname, '../../../docs/consent-states.md'), 'utf8');
    for (const [from, event, to] of allowed) expect(doc, `${from} --${event}--> ${to}`).toMatch(new RegExp(`\\| ${from} \\| ${event} \\| ${to} \\|`));
  });
});
