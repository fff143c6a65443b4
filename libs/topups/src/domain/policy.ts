import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { parseSchedule, scheduleProblem, timezoneProblem } from './schedule';

export type TopupMode = 'fixed' | 'target';
export type TopupRunStatus = 'decided' | 'skipped' | 'failed' | 'missed';

/** The clock every top-up decision reads; tests inject a fake one. */
export type Clock = () => Date;

/** The actor of everything the scheduler does. */
export const TOPUP_ACTOR = 'system:topups';

export interface TopupPolicy extends PolicyFields {
  id: string;
  providerAccount: string;
  effectiveFrom: Date;
  createdBy: string;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

/** What target mode knows about the sub-account just before deciding. */
export interface BalanceReading {
  /** The provider's balance for the sub-account (the list call). */
  observed: Money;
  /**
   * Recorded transfers of the sub-account still `pending` after the reading (adds minus
   * removes): not executed yet, so not in the provider's balance, but they will be.
   */
  pendingNet: Money;
}

export interface Decision {
  /** null: nothing to transfer this period. */
  amount: Money | null;
  explanation: string;
  observed: Money | null;
}

/**
 * How much a policy transfers now. Fixed: its amount. Target: what brings the provider's
 * balance (plus transfers already recorded and not executed) up to the target; nothing when
 * already there. The cap, when set, bounds either.
 */
export function decide(p: Pick<TopupPolicy, 'mode' | 'amount' | 'target' | 'cap'>, reading: BalanceReading | null): Decision {
  let amount: Money;
  let explanation: string;
  if (p.mode === 'fixed') {
    amount = p.amount!;
    explanation = `fixed ${amount.toFixed()}`;
  } else {
    if (!reading) throw new Error('target mode decides from a balance reading');
    const target = p.target!;
    const expected = reading.observed.plus(reading.pendingNet);
    const seen = `provider reading ${reading.observed.toFixed()}${reading.pendingNet.isZero() ? '' : ` (${reading.pendingNet.isNegative() ? '' : '+'}${reading.pendingNet.toFixed()} pending)`}`;
    if (expected.greaterThanOrEqual(target)) {
      return { amount: null, explanation: `target ${target.toFixed()}: ${seen}, already at or above the target`, observed: reading.observed };
    }
    amount = target.minus(expected);
    explanation = `target ${target.toFixed()}: ${seen}, ${amount.toFixed()} missing`;
  }
  if (p.cap && amount.greaterThan(p.cap)) {
    amount = p.cap;
    explanation += `, capped at ${p.cap.toFixed()}`;
  }
  return { amount, explanation, observed: reading?.observed ?? null };
}

/** The fields that make a policy, as a request gives them (after merging a patch). */
export interface PolicyFields {
  subaccount: string;
  mode: TopupMode;
  amount: Money | null;
  target: Money | null;
  cap: Money | null;
  schedule: string;
  timezone: string;
  enabled: boolean;
}

/**
 * Checks what a policy is as a whole (the request schemas check each field): fixed needs an
 * amount and no target, target a target and no amount, the schedule and zone must be usable.
 * Returns the fields with the schedule normalised.
 */
export function checkPolicy(f: PolicyFields): PolicyFields {
  const problems: Array<{ path: string; message: string }> = [];
  if (f.mode === 'fixed') {
    if (!f.amount) problems.push({ path: 'amount', message: 'is required in fixed mode' });
    if (f.target) problems.push({ path: 'target', message: 'is for target mode only' });
  } else {
    if (!f.target) problems.push({ path: 'target', message: 'is required in target mode' });
    if (f.amount) problems.push({ path: 'amount', message: 'is for fixed mode only' });
  }
  const scheduleIssue = scheduleProblem(f.schedule);
  if (scheduleIssue) problems.push({ path: 'schedule', message: scheduleIssue });
  const zoneIssue = timezoneProblem(f.timezone);
  if (zoneIssue) problems.push({ path: 'timezone', message: zoneIssue });
  if (problems.length) {
    throw new DomainError('validation_failed', `invalid top-up policy: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { issues: problems });
  }
  return { ...f, schedule: parseSchedule(f.schedule, f.timezone).expression };
}
