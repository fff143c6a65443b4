import { Money, TransferDirection } from '@app/ledger';

/**
 * The reconciliation rules as pure functions: no database, no provider. The use cases feed
 * them what the provider showed and what the ledger held at that point. In-doubt transfers
 * are judged by the evidence rules of libs/transfers (domain/evidence.ts, docs/in-doubt.md).
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
