import { Money } from './money';
import { subaccountCode } from './chart';

/** One leg of a ledger transaction: amount > 0 debits the account, < 0 credits it. */
export interface PostingLine { account: string; amount: Money }

export type TransferDirection = 'add' | 'remove';
export type AdjustmentKind = 'usage' | 'purchase' | 'write_off' | 'opening_balance';
export type TransactionKind = 'transfer' | AdjustmentKind;

export class UnbalancedTransactionError extends Error {}

/** Postings of a transfer: "add" debits sub:S and credits main; "remove" the reverse. */
export function transferPostings(direction: TransferDirection, token: string, amount: Money): PostingLine[] {
  if (!amount.isPositive()) throw new RangeError('a transfer amount must be positive');
  const sub = subaccountCode(token);
  return direction === 'add'
    ? [{ account: sub, amount }, { account: 'main', amount: amount.negated() }]
    : [{ account: 'main', amount }, { account: sub, amount: amount.negated() }];
}

/**
 * Postings that bring a provider-backed account's ledger balance in line with what the
 * provider shows, by `delta` = observed - expected:
 * - usage: credit spent sending SMS (delta < 0): debit usage, credit the account;
 * - purchase / opening balance: credit that arrived from outside (delta > 0): debit the account, credit funding;
 * - write-off: any unexplained difference, against `adjustment`.
 */
export function adjustmentPostings(kind: AdjustmentKind, account: string, delta: Money): PostingLine[] {
  if (delta.isZero()) throw new RangeError('an adjustment of zero moves nothing');
  const counterpart = kind === 'usage' ? 'usage' : kind === 'write_off' ? 'adjustment' : 'funding';
  if (kind === 'usage' && delta.isPositive()) throw new RangeError('usage can only lower a balance');
  if ((kind === 'purchase' || kind === 'opening_balance') && delta.isNegative()) {
    throw new RangeError(`${kind} can only raise a balance`);
  }
  return [{ account, amount: delta }, { account: counterpart, amount: delta.negated() }];
}

/** Double-entry: at least two legs, one per account, summing to zero. */
export function assertBalanced(lines: PostingLine[]): void {
  if (lines.length < 2) throw new UnbalancedTransactionError('a transaction needs at least two postings');
  if (new Set(lines.map((l) => l.account)).size !== lines.length) {
    throw new UnbalancedTransactionError('one posting per account per transaction');
  }
  if (lines.some((l) => l.amount.isZero())) throw new UnbalancedTransactionError('a posting cannot be zero');
  const sum = Money.sum(lines.map((l) => l.amount));
  if (!sum.isZero()) throw new UnbalancedTransactionError(`postings sum to ${sum.toFixed()}, not zero`);
}
