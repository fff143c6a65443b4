import { Money } from './money';

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
