import { Money } from './money';
import { PostingLine } from './postings';

/** The four TigerBeetle-style counters of an account. */
export interface BalanceCounters {
  debitsPosted: Money;
  creditsPosted: Money;
  debitsPending: Money;
  creditsPending: Money;
}

export interface BalanceView { posted: Money; pending: Money; available: Money }

/**
 * posted = debits - credits; pending = the net effect of reservations not yet posted;
 * available = posted minus money reserved to leave (incoming reservations do not count).
 */
export function balanceView(c: BalanceCounters): BalanceView {
  const posted = c.debitsPosted.minus(c.creditsPosted);
  return {
    posted,
    pending: c.debitsPending.minus(c.creditsPending),
    available: posted.minus(c.creditsPending),
  };
}

export function balanceJson(v: BalanceView): { posted: string; pending: string; available: string } {
  return { posted: v.posted.toFixed(), pending: v.pending.toFixed(), available: v.available.toFixed() };
}

/**
 * How a transaction moves the available balance of each account it touches: money leaving
 * (a credit) lowers it at once, pending or posted; money arriving (a debit) raises it only
 * once posted. This is what the overdraft guard checks before a reservation is written.
 */
export function availableDeltas(lines: ReadonlyArray<PostingLine>, state: 'pending' | 'posted'): Map<string, Money> {
  const deltas = new Map<string, Money>();
  for (const l of lines) {
    if (l.amount.isPositive() && state === 'pending') continue;
    deltas.set(l.account, (deltas.get(l.account) ?? Money.ZERO).plus(l.amount));
  }
  return deltas;
}
