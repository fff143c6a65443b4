import { Money } from '@app/ledger';
import { SeedSpending, SpendingRuleInput, SpendingSnapshot } from './spending';

/** The sandbox's data: provider accounts, sub-accounts, the applied-call log, seeds and snapshots. */

export type SubaccountType = 'simple' | 'advanced';
export type CreditRoute = 'add' | 'remove';

export interface MainAccount {
  apiKey: string;
  username: string;
  firstname: string;
  lastname: string;
  balance: Money;
  /** The provider's support must switch the sub-account feature on; off → "not authorised". */
  subaccountsEnabled: boolean;
}

/**
 * How the list endpoint may misprint one entry, to test clients against odd entries a real
 * provider could send: a null balance, a balance as a JSON number, no token, null instead of the entry.
 */
export const LIST_QUIRKS = ['null_balance', 'number_balance', 'no_token', 'null_entry'] as const;
export type ListQuirk = (typeof LIST_QUIRKS)[number];

export interface Subaccount {
  /** Set with SandboxState.setListQuirk: how the list endpoint misprints this entry. */
  listQuirk?: ListQuirk;
  /** Numeric id shown by the list endpoint; increasing in creation order. */
  id: number;
  token: string;
  email: string;
  type: SubaccountType;
  title?: string;
  firstname?: string;
  lastname?: string;
  isBuyer: boolean;
  /** The sub-account's own API key: a secret in the real world, visible in the sandbox. */
  apiKey: string;
  balance: Money;
  /** "YYYY-MM-DD HH:mm:ss" (UTC), the provider's format. */
  createdAt: string;
  parentApiKey: string;
}

/**
 * One money movement the sandbox actually applied. Tests compare this log with the ledger
 * to prove that nothing was applied twice (or lost). `create` entries come from
 * `creditToAttribute` on sub-account creation, which also moves money.
 */
export interface AppliedCreditCall {
  seq: number;
  at: string;
  route: CreditRoute | 'create';
  token: string;
  amount: string;
  mainAfter: string;
  subAfter: string;
  faultApplied?: string;
}

export interface SeedSubaccount {
  token?: string;
  email?: string;
  type?: SubaccountType;
  title?: string;
  firstname?: string;
  lastname?: string;
  isBuyer?: boolean;
  apiKey?: string;
  balance?: string | number;
  createdAt?: string;
  /** This sub-account's SMS spending (see spending.ts); overrides the account's `subaccountSpending`. */
  spending?: SpendingRuleInput;
}

export interface SeedAccount {
  apiKey: string;
  username?: string;
  firstname?: string;
  lastname?: string;
  balance: string | number;
  subaccountsEnabled?: boolean;
  /** Either explicit sub-accounts, or a count of generated demo sub-accounts. */
  subaccounts?: number | SeedSubaccount[];
  /** This main account's SMS spending and purchases. */
  spending?: SpendingRuleInput;
  /** Spending of each of this account's sub-accounts (unless one has its own `spending`). */
  subaccountSpending?: SpendingRuleInput;
}

export interface SandboxSeed {
  /** Seed of the PRNG used for tokens and sub-account keys (default 1). */
  seed?: number | string;
  accounts: SeedAccount[];
  /** Spending PRNG seed (default: `<seed>:spending`), step, and rules for every main account / sub-account. */
  spending?: SeedSpending;
}

export interface SandboxStateOptions {
  seed?: SandboxSeed;
  /** JSON file holding a SandboxSeed; used when `seed` is not given. */
  seedFile?: string;
  /** When set, the state is loaded from this file at start (if it exists) and rewritten after every change. */
  stateFile?: string;
  /** Clock, injectable for tests. */
  now?: () => Date;
}

/** JSON form of the state (balances as 3-decimal strings), used by /__sandbox/state and the state file. */
export interface SandboxSnapshot {
  version: 1;
  seed: number | string;
  rngState: number;
  nextSubaccountId: number;
  accounts: Array<Omit<MainAccount, 'balance'> & { balance: string }>;
  subaccounts: Array<Omit<Subaccount, 'balance'> & { balance: string }>;
  log: AppliedCreditCall[];
  /** Spending rules, PRNG and schedules (absent in state files written before spending existed). */
  spending?: SpendingSnapshot;
}

export class SandboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxError';
  }
}

export const DEFAULT_SEED: SandboxSeed = {
  seed: 'credit-ledger-sandbox',
  accounts: [{ apiKey: 'sandbox-demo-key', username: 'demo@example.com', balance: '10225.119', subaccounts: 3 }],
};

export function formatProviderDate(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}
