/**
 * IN_DOUBT_BARRIER (docs/in-doubt.md, "One question at a time"): while a transfer of a
 * sub-account is in doubt, for at most `ms` after it went in doubt, a later transfer of that
 * sub-account waits when its amount is within `within` euros of the in-doubt one's and the
 * in-doubt amount is itself above `within` (`null`: every later transfer waits). An in-doubt
 * amount at or below `within` (the least plausible spending of any window) is decided by the
 * sign rule or not at all, whatever comes after it, so it holds nothing. Two in-doubt calls of nearly equal amounts are the pair the
 * balances cannot tell apart ("this one applied, that one not" against the reverse, or both
 * against neither when they go opposite ways, differ by the gap between the amounts, which
 * spending can hide); any other later call goes on, and its answer is one more reading.
 * `ms` 0: no barrier.
 */
export interface InDoubtBarrier {
  ms: number;
  /** Decimal text with three decimals, or null for every later transfer. */
  within: string | null;
}

export const NO_BARRIER: InDoubtBarrier = { ms: 0, within: null };
