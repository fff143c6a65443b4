/**
 * Chart of accounts per provider (main) account: `main`, `sub:<token>`, `funding`, `usage`,
 * `adjustment`. Balances are debit-normal: balance = debits - credits. Provider-backed
 * accounts (main, sub-accounts) hold real credit and are overdraft-guarded by default.
 */
export type AccountKind = 'main' | 'subaccount' | 'funding' | 'usage' | 'adjustment';
export const SYSTEM_ACCOUNTS: ReadonlyArray<Exclude<AccountKind, 'subaccount'>> = ['main', 'funding', 'usage', 'adjustment'];

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const SUB_PREFIX = 'sub:';

export function isValidSubaccountToken(token: string): boolean {
  return TOKEN.test(token);
}

export function subaccountCode(token: string): string {
  if (!isValidSubaccountToken(token)) throw new Error('invalid sub-account token');
  return `${SUB_PREFIX}${token}`;
}

/** The sub-account token of an account code (`sub:<token>` → `<token>`); undefined for any other code. */
export function subaccountTokenOf(code: string): string | undefined {
  return code.startsWith(SUB_PREFIX) ? code.slice(SUB_PREFIX.length) : undefined;
}

export function kindOfCode(code: string): AccountKind | undefined {
  const token = subaccountTokenOf(code);
  if (token !== undefined) return isValidSubaccountToken(token) ? 'subaccount' : undefined;
  return (SYSTEM_ACCOUNTS as readonly string[]).includes(code) ? (code as AccountKind) : undefined;
}

export function isProviderBacked(kind: AccountKind): boolean {
  return kind === 'main' || kind === 'subaccount';
}
