import { Money, TransferDirection } from '@app/ledger';

/**
 * The reconciliation rules as pure functions: no database, no provider. The use cases feed
 * them what the provider showed and what the ledger held at that point.
 */

export type RunStatus = 'running' | 'completed' | 'failed';
export type RunTrigger = 'schedule' | 'manual';
export type ItemStatus = 'matched' | 'drift' | 'unsettled' | 'resolved_in_doubt';
export type ObservationSource = 'me' | 'list' | 'transfer';
export type FindingStatus = 'open' | 'resolved';
export type Suggestion = 'usage_likely' | 'purchase_or_refund_likely';
export type DriftResolutionKind = 'usage' | 'purchase' | 'write_off';
export type FindingResolutionKind = DriftResolutionKind | 'self_resolved';

/** The actor of everything a run does on its own (in-doubt resolutions, automatic bookings). */
export const RECONCILIATION_ACTOR = 'system:reconciliation';
export const DEFAULT_TOLERANCE = Money.parse('0.001');

/** drift = observed - expected. */
export function driftOf(observed: Money, expected: Money): Money {
  return observed.minus(expected);
}

export function withinTolerance(drift: Money, tolerance: Money): boolean {
  return drift.abs().lessThanOrEqual(tolerance);
}

/** Less credit than the ledger says: SMS were sent. More: credit was bought or refunded. */
export function suggestionFor(drift: Money): Suggestion {
  return drift.isNegative() ? 'usage_likely' : 'purchase_or_refund_likely';
}

export interface InDoubtCandidate { id: string; direction: TransferDirection; amount: Money }

/** What an applied transfer did to the sub-account's provider balance: add raises it, remove lowers it. */
export function effectOnSubaccount(c: Pick<InDoubtCandidate, 'direction' | 'amount'>): Money {
  return c.direction === 'add' ? c.amount : c.amount.negated();
}

/** ... and to the main account's: the opposite. */
export function effectOnMain(c: Pick<InDoubtCandidate, 'direction' | 'amount'>): Money {
  return effectOnSubaccount(c).negated();
}

export type InDoubtMatch =
  | { kind: 'unique'; applied: InDoubtCandidate[]; notApplied: InDoubtCandidate[] }
  | { kind: 'none' }
  | { kind: 'ambiguous'; matches: number }
  | { kind: 'too_many'; count: number };

/** 2^12 subsets: beyond that the evidence is left to an operator. */
export const MAX_IN_DOUBT_CANDIDATES = 12;

/**
 * Which of the in-doubt transfers of one sub-account did the provider apply? The observed
 * drift (observed - posted balance, reservations excluded) must equal the summed effect of
 * the applied ones. Every subset is tried, the empty one included ("none was applied"):
 * exactly one subset within tolerance is an answer; none or several is not.
 */
export function matchInDoubt(
  candidates: InDoubtCandidate[],
  drift: Money,
  tolerance: Money,
  effect: (c: InDoubtCandidate) => Money = effectOnSubaccount,
  maxCandidates = MAX_IN_DOUBT_CANDIDATES,
): InDoubtMatch {
  if (candidates.length > maxCandidates) return { kind: 'too_many', count: candidates.length };
  const effects = candidates.map(effect);
  let found: number | undefined;
  let matches = 0;
  for (let mask = 0; mask < 1 << candidates.length; mask++) {
    let sum = Money.ZERO;
    for (let i = 0; i < candidates.length; i++) if (mask & (1 << i)) sum = sum.plus(effects[i]);
    if (withinTolerance(drift.minus(sum), tolerance)) {
      matches++;
      found = mask;
    }
  }
  if (matches === 0) return { kind: 'none' };
  if (matches > 1) return { kind: 'ambiguous', matches };
  return {
    kind: 'unique',
    applied: candidates.filter((_, i) => found! & (1 << i)),
    notApplied: candidates.filter((_, i) => !(found! & (1 << i))),
  };
}
