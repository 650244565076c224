/**
 * The registry of sandbox test users. Usernames, passwords and one-time codes are fixed and
 * documented (sandbox/README.md) so sandbox users can automate the SCA pages.
 */
export type UserProfile = 'individual' | 'sme' | 'heavy' | 'none';

/** What a magic user does on the bank's SCA pages. */
export type UserBehaviour = 'normal' | 'wrong-password' | 'locked' | 'rejects' | 'sca-timeout';

export interface TestUser {
  username: string;
  password: string;
  /** The fixed one-time code (also printed on the code page in sandbox mode). */
  otp: string;
  displayName: string;
  profile: UserProfile;
  behaviour: UserBehaviour;
  description: string;
}

export const SANDBOX_PASSWORD = 'sandbox';

export const TEST_USERS: readonly TestUser[] = Object.freeze([
  {
    username: 'alice',
    password: SANDBOX_PASSWORD,
    otp: '123456',
    displayName: 'Alice Martin',
    profile: 'individual',
    behaviour: 'normal',
    description: 'individual: checking, savings and card account, two years of history, a few pending',
  },
  {
    username: 'sme',
    password: SANDBOX_PASSWORD,
    otp: '234567',
    displayName: 'Bruno Keller',
    profile: 'sme',
    behaviour: 'normal',
    description: "SME owner: a personal account and two companies' business accounts",
  },
  {
    username: 'heavy',
    password: SANDBOX_PASSWORD,
    otp: '345678',
    displayName: 'Heavy Trading Ltd',
    profile: 'heavy',
    behaviour: 'normal',
    description: 'one account with 100,000 transactions over two years (generated lazily)',
  },
  {
    username: 'wrong-password',
    password: '',
    otp: '000000',
    displayName: 'Wrong Password',
    profile: 'individual',
    behaviour: 'wrong-password',
    description: 'every password is refused',
  },
  {
    username: 'locked',
    password: SANDBOX_PASSWORD,
    otp: '000000',
    displayName: 'Locked User',
    profile: 'individual',
    behaviour: 'locked',
    description: 'the login page says the user is locked',
  },
  {
    username: 'rejecter',
    password: SANDBOX_PASSWORD,
    otp: '456789',
    displayName: 'Rita Rejecter',
    profile: 'individual',
    behaviour: 'rejects',
    description: 'passes SCA, then declines: consent/payment ends rejected, redirect carries an error',
  },
  {
    username: 'timeout',
    password: SANDBOX_PASSWORD,
    otp: '567890',
    displayName: 'Tim Timeout',
    profile: 'individual',
    behaviour: 'sca-timeout',
    description: 'SCA times out: the code page never accepts a code; decoupled approval never comes',
  },
]);

export const findUser = (username: string): TestUser | undefined => TEST_USERS.find((u) => u.username === username.trim().toLowerCase());
