/**
 * Chart of accounts per provider (main) account: `main`, `sub:<token>`, `funding`, `usage`,
 * `adjustment`. Balances are debit-normal: balance = debits - credits. Provider-backed
 * accounts (main, sub-accounts) hold real credit and are overdraft-guarded by default.
 */
export type AccountKind = 'main' | 'subaccount' | 'funding' | 'usage' | 'adjustment';
export const SYSTEM_ACCOUNTS: ReadonlyArray<Exclude<AccountKind, 'subaccount'>> = ['main', 'funding', 'usage', 'adjustment'];

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidSubaccountToken(token: string): boolean {
  return TOKEN.test(token);
}

export function subaccountCode(token: string): string {
  if (!isValidSubaccountToken(token)) throw new Error('invalid sub-account token');
  return `sub:${token}`;
}

export function kindOfCode(code: string): AccountKind | undefined {
  if (code.startsWith('sub:')) return isValidSubaccountToken(code.slice(4)) ? 'subaccount' : undefined;
  return (SYSTEM_ACCOUNTS as readonly string[]).includes(code) ? (code as AccountKind) : undefined;
}

export function isProviderBacked(kind: AccountKind): boolean {
  return kind === 'main' || kind === 'subaccount';
}
