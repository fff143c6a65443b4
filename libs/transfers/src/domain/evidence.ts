import Decimal from 'decimal.js';
import { Money } from '@app/ledger';
import { canBeAfter, canBeBefore, orderedReadings, surelyAfter, surelyBefore } from './reading-order';

/**
 * Evidence for in-doubt transfers in a world that keeps spending (docs/in-doubt.md), as pure
 * functions: no database, no provider, no clock. Times are epoch milliseconds.
 *
 * Facts used: every reading is an exact provider balance of the sub-account taken at some
 * instant inside [from, at]; our calls on one sub-account run one at a time; a call's effect,
 * if it happened, happened at an unknown instant inside (from, to) of its movement; between
 * two readings, a non-buyer sub-account only falls on its own (spending s >= 0).
 */

export type ReadingSource = 'transfer' | 'probe' | 'list' | 'me';
export type Outcome = 'applied' | 'not_applied';

export interface BalanceReading {
  id: string;
  source: ReadingSource;
  /** The reading was taken at an unknown instant in [from, at]. */
  from: number;
  at: number;
  balance: Money;
  /** The main account's balance in the same answer (shown, never used to decide). */
  mainBalance?: Money | null;
  /** This reading is the answer of that movement's call: taken right after its effect. */
  afterMovement?: string | null;
}

/** One call of ours on the sub-account. */
export interface Movement {
  id: string;
  /** What it does to the sub-account if applied: add +amount, remove -amount. */
  effect: Money;
  /** Its effect, if any, happened at an unknown instant in (from, to): claim .. answer, or claim .. in doubt + grace. */
  from: number;
  to: number;
  /** Known outcome, or null when it is the question (in doubt). */
  outcome: Outcome | null;
  /** A decision pinned its effect after this reading's instant / before that one's (Verdict.appliedWithin). */
  afterReading?: string | null;
  beforeReading?: string | null;
}

/** How much an account can plausibly spend in a window (the plausibility rule). */
export interface SpendBound {
  floor: Money;
  factor: string;
  /** The account's highest measured spending rate, € per second. */
  peakRatePerSecond: string;
  /**
   * The shortest window that rate was measured over (seconds). A rate averaged over windows
   * of at least this length says nothing about how the spending falls inside one: an SMS
   * campaign or a provider that books usage in lumps can spend a whole window's worth at once,
   * so no window counts as shorter than this.
   */
  horizonSeconds: number;
  windows: number;
  seconds: number;
}

export interface Hypothesis { outcome: Outcome; refuted: boolean; needs: string; why: string | null }

export interface Verdict {
  transferId: string;
  status: 'decided' | 'undecided';
  outcome: Outcome | null;
  summary: string;
  readings: BalanceReading[];
  hypotheses: Hypothesis[];
  assumptions: string[];
  suggestion: string | null;
  /**
   * Decided "applied": where its effect lies, from the placements that survived (the interval
   * between the readings that pin it). Narrower than the call's own interval when a reading
   * already showed it; a later evaluation may then measure spending right after it.
   */
  appliedWithin: { from: number; to: number; afterReading: string | null; beforeReading: string | null } | null;
}

export interface EvaluateInput {
  readings: BalanceReading[];
  movements: Movement[];
  isBuyer: boolean;
  /** null: no usable spending history, only the sign rule decides. */
  bound: SpendBound | null;
  /** The grace, for the assumptions text. */
  graceMs: number;
  maxHypotheses?: number;
  /**
   * Bracket only this in-doubt movement (from the last reading before it to the first after its
   * grace) and return its verdict alone; other movements in that bracket, in doubt or not, are
   * still weighed in every placement. Without it: one bracket around every in-doubt movement.
   */
  focus?: string;
}

/** Segments kept in one evaluation; more readings are merged (merging only loosens the constraints). */
const MAX_SEGMENTS = 10;
const DEFAULT_MAX_HYPOTHESES = 100_000;

/** max(floor, factor × peak rate × max(seconds, horizon)), rounded up to 3 decimals. */
export function maxSpend(bound: SpendBound, seconds: number): Money {
  const byRate = new Decimal(bound.factor).times(bound.peakRatePerSecond).times(Math.max(0, seconds, bound.horizonSeconds));
  const rounded = Money.parse(byRate.toDecimalPlaces(3, Decimal.ROUND_UP).toFixed(3));
  return rounded.max(bound.floor);
}

export * from './reading-order';

// ----------------------------------------------------------------------------- evaluation

interface Option { outcome: Outcome; slot: number | null }

interface Trial { violations: string[]; spend: Money }

/**
 * The verdict for every in-doubt movement (outcome null) of one sub-account. A hypothesis is
 * a full assignment: for each movement whether it was applied and between which readings.
 * It is refuted when a segment between two readings would need the sub-account to have
 * gained credit on its own (sign rule, non-buyers only) or to have spent more than
 * `maxSpend` in that window or in the whole bracket (plausibility rule, when a bound is
 * known). A transfer is decided when every surviving hypothesis gives it the same outcome.
 */
export function evaluateInDoubt(input: EvaluateInput): Verdict[] {
  const unknowns = input.movements.filter((m) => m.outcome === null && (input.focus === undefined || m.id === input.focus));
  if (!unknowns.length) return [];
  const assumptions = assumptionsOf(input);
  const undecided = (summary: string, readings: BalanceReading[] = [], hypotheses: Hypothesis[] = []): Verdict[] =>
    unknowns.map((u) => ({
      transferId: u.id, status: 'undecided' as const, outcome: null, summary, readings, hypotheses, assumptions, appliedWithin: null,
      suggestion: 'check the provider\'s own statement of this sub-account for the call\'s time, then resolve it by hand (POST /v1/transfers/:id/resolve)',
    }));

  const all = orderedReadings(input.readings);
  const start = Math.min(...unknowns.map((u) => u.from));
  let b = -1;
  for (let i = 0; i < all.length; i++) if (all[i].at <= start) b = i;
  if (b < 0) return undecided('no exact reading of the sub-account before the call: nothing brackets it');
  const lastDeadline = Math.max(...unknowns.map((u) => u.to));
  let after = all.slice(b + 1);
  const firstPast = after.findIndex((r) => r.from >= lastDeadline);
  if (firstPast >= 0) after = after.slice(0, firstPast + 1);
  if (after.length > MAX_SEGMENTS) after = [...after.slice(0, MAX_SEGMENTS / 2), ...after.slice(after.length - MAX_SEGMENTS / 2)];
  const R = [all[b], ...after];
  const n = R.length - 1;
  if (n === 0) return undecided('no reading of the sub-account since the call yet', R);

  // Movements that can matter between R[0] and R[n], with their possible slots:
  // 0 = before R[0] (in every reading), j = between R[j-1] and R[j], n+1 = after R[n] (in none).
  const relevant = input.movements.filter((m) => m.outcome !== 'not_applied'
    && !surelyBefore(m, R[0]) && !surelyAfter(m, R[n]));
  const options = relevant.map((m): Option[] => {
    const slots: number[] = [];
    if (canBeBefore(m, R[0])) slots.push(0);
    for (let j = 1; j <= n; j++) if (canBeAfter(m, R[j - 1]) && canBeBefore(m, R[j])) slots.push(j);
    if (canBeAfter(m, R[n])) slots.push(n + 1);
    const applied = slots.map((slot) => ({ outcome: 'applied' as const, slot }));
    return m.outcome === null ? [{ outcome: 'not_applied', slot: null }, ...applied] : applied;
  });
  const total = options.reduce((p, o) => p * Math.max(1, o.length), 1);
  const maxHypotheses = input.maxHypotheses ?? DEFAULT_MAX_HYPOTHESES;
  if (total > maxHypotheses) return undecided(`${total} hypotheses: too many to weigh automatically`, R);
  if (options.some((o) => o.length === 0)) return undecided('a known transfer cannot be placed between the readings', R);

  const seconds = (j: number) => (R[j].at - R[j - 1].from) / 1000;
  const totalSeconds = (R[n].at - R[0].from) / 1000;
  const describe = (r: BalanceReading) => `${r.source} reading ${r.balance.toFixed()} at ${new Date(r.at).toISOString()}`;
  const check = (choice: Option[]): Trial => {
    const violations: string[] = [];
    const seg: Money[] = [];
    for (let j = 1; j <= n; j++) seg.push(R[j - 1].balance.minus(R[j].balance));
    choice.forEach((o, i) => {
      if (o.outcome === 'applied' && o.slot !== null && o.slot >= 1 && o.slot <= n) seg[o.slot - 1] = seg[o.slot - 1].plus(relevant[i].effect);
    });
    const spend = Money.sum(seg);
    if (!input.isBuyer) {
      seg.forEach((s, k) => {
        if (s.isNegative()) violations.push(`the sub-account would have gained ${s.negated().toFixed()} on its own between the ${describe(R[k])} and the ${describe(R[k + 1])}: a non-buyer sub-account only falls on its own`);
      });
      if (input.bound) {
        seg.forEach((s, k) => {
          const cap = maxSpend(input.bound!, seconds(k + 1));
          if (s.greaterThan(cap)) violations.push(`it would need ${s.toFixed()} of spending in ${seconds(k + 1).toFixed(1)} s (between the ${describe(R[k])} and the ${describe(R[k + 1])}), above the plausible ${cap.toFixed()}`);
        });
        const cap = maxSpend(input.bound, totalSeconds);
        if (spend.greaterThan(cap)) violations.push(`it would need ${spend.toFixed()} of spending in ${totalSeconds.toFixed(1)} s, above the plausible ${cap.toFixed()}`);
      }
    }
    return { violations, spend };
  };
  // The same count of violations, in exact integer thousandths (the provider's resolution) and
  // without the texts: this runs for every assignment; `check` only for the ones shown.
  const milli = (x: Money) => BigInt(x.toFixed().replace('.', ''));
  const segBase = Array.from({ length: n }, (_, k) => milli(R[k].balance) - milli(R[k + 1].balance));
  const effectOf = relevant.map((m) => milli(m.effect));
  const segCap = input.bound ? Array.from({ length: n }, (_, k) => milli(maxSpend(input.bound!, seconds(k + 1)))) : null;
  const totalCap = input.bound ? milli(maxSpend(input.bound, totalSeconds)) : null;
  const seg: bigint[] = new Array(n);
  const violationCount = (choice: Option[]): number => {
    if (input.isBuyer) return 0;
    for (let k = 0; k < n; k++) seg[k] = segBase[k];
    for (let i = 0; i < choice.length; i++) {
      const o = choice[i];
      if (o.outcome === 'applied' && o.slot !== null && o.slot >= 1 && o.slot <= n) seg[o.slot - 1] += effectOf[i];
    }
    let count = 0;
    let spend = 0n;
    for (let k = 0; k < n; k++) {
      spend += seg[k];
      if (seg[k] < 0n) count++;
      if (segCap && seg[k] > segCap[k]) count++;
    }
    if (totalCap !== null && spend > totalCap) count++;
    return count;
  };

  // Depth-first over every assignment.
  const feasible = unknowns.map(() => new Set<Outcome>());
  const appliedSlots = unknowns.map(() => ({ min: Infinity, max: -Infinity }));
  const best = unknowns.map(() => new Map<Outcome, { count: number; choice: Option[]; slot: number | null }>());
  const unknownIndex = unknowns.map((u) => relevant.indexOf(u));
  let anyFeasible = false;
  const choice: Option[] = [];
  const walk = (i: number) => {
    if (i === relevant.length) {
      const count = violationCount(choice);
      const ok = count === 0;
      if (ok) anyFeasible = true;
      unknownIndex.forEach((ri, k) => {
        if (ri < 0) return;
        const o = choice[ri];
        if (ok) feasible[k].add(o.outcome);
        if (ok && o.outcome === 'applied' && o.slot !== null) {
          appliedSlots[k].min = Math.min(appliedSlots[k].min, o.slot);
          appliedSlots[k].max = Math.max(appliedSlots[k].max, o.slot);
        }
        const prev = best[k].get(o.outcome);
        if (!prev || count < prev.count) best[k].set(o.outcome, { count, choice: [...choice], slot: o.slot });
      });
      return;
    }
    for (const o of options[i]) {
      choice[i] = o;
      walk(i + 1);
    }
  };
  walk(0);

  const window = `between the ${describe(R[0])} and the ${describe(R[n])} (${totalSeconds.toFixed(1)} s)`;
  return unknowns.map((u, k): Verdict => {
    // Sent after the last reading (or wholly before the first): nothing in this bracket says anything about it.
    if (unknownIndex[k] < 0) return undecided('no reading of the sub-account since the call yet', R)[k];
    const hypotheses: Hypothesis[] = (['applied', 'not_applied'] as const).map((outcome) => {
      const found = best[k].get(outcome);
      const refuted = !feasible[k].has(outcome);
      const b = found && { trial: check(found.choice), slot: found.slot };
      if (!b) return { outcome, refuted: true, needs: 'impossible', why: 'no placement of the call between the readings' };
      const later = outcome === 'applied' && b.slot === n + 1 ? ' (applied after the last reading: no reading after the grace yet)' : '';
      return {
        outcome, refuted,
        needs: `spending of ${b.trial.spend.toFixed()} ${window}${later}`,
        why: refuted ? (b.trial.violations[0] ?? 'refuted together with the other transfers in doubt on this sub-account') : null,
      };
    });
    const outcomes = [...feasible[k]];
    if (input.isBuyer) {
      return {
        transferId: u.id, status: 'undecided', outcome: null, readings: R, hypotheses: hypotheses.map((h) => ({ ...h, refuted: false, why: null })), assumptions, appliedWithin: null,
        summary: 'buyer sub-account: it can buy its own credit, so its balance may rise on its own and no rule can attribute a movement; left to a person',
        suggestion: `compare with the provider's statement of this sub-account ${window}; resolve it by hand`,
      };
    }
    if (!anyFeasible) {
      return {
        transferId: u.id, status: 'undecided', outcome: null, readings: R, hypotheses, assumptions, appliedWithin: null,
        summary: 'no hypothesis fits the readings: something other than our calls and spending moved this sub-account (or an assumption does not hold); left to a person',
        suggestion: 'look for a manual change at the provider or a purchase on this sub-account, then resolve it by hand',
      };
    }
    if (outcomes.length === 1) {
      const outcome = outcomes[0];
      const other = hypotheses.find((h) => h.outcome !== outcome)!;
      // Slot 0: before R[0]; j: between R[j-1] and R[j]; n+1: after R[n] (within its own interval).
      const { min, max } = appliedSlots[k];
      const appliedWithin = outcome === 'applied'
        ? {
          from: min >= 1 ? Math.max(u.from, R[min - 1].from) : u.from, afterReading: min >= 1 ? R[min - 1].id : null,
          to: max <= n ? Math.min(u.to, R[max].at) : u.to, beforeReading: max <= n ? R[max].id : null,
        }
        : null;
      return {
        transferId: u.id, status: 'decided', outcome, readings: R, hypotheses, assumptions, suggestion: null, appliedWithin,
        summary: `${outcome === 'applied' ? 'applied' : 'not applied'}: "${other.outcome === 'applied' ? 'applied' : 'not applied'}" is refuted (${other.why})`,
      };
    }
    const lastPast = R[n].from >= u.to;
    return {
      transferId: u.id, status: 'undecided', outcome: null, readings: R, hypotheses, assumptions, appliedWithin: null,
      summary: lastPast
        ? `both outcomes fit the readings ${window}: the spending in that window could hide the call`
        : 'waiting for a reading after the grace (a late application can still land)',
      suggestion: lastPast
        ? `both hypotheses survive; a later reading with a shorter window may decide. Otherwise compare with the provider's statement of this sub-account ${window} and resolve it by hand`
        : null,
    };
  });
}

function assumptionsOf(input: EvaluateInput): string[] {
  const a = [
    'a non-buyer sub-account\'s balance only falls on its own (SMS spending); it never rises without a call of ours',
    `the provider applies a call, if at all, before its grace ends (${(input.graceMs / 1000).toFixed(1)} s after it went in doubt)`,
    'transfers already posted, failed or resolved count with their recorded outcome; main-account readings are not used (purchases make its rises unattributable)',
  ];
  if (input.isBuyer) a.push('buyer sub-account: the sign rule does not hold (it can buy its own credit), so nothing is decided automatically');
  else if (input.bound) {
    a.push(`in any window of d seconds this sub-account spends at most max(${input.bound.floor.toFixed()}, ${input.bound.factor} × ${input.bound.peakRatePerSecond} €/s × max(d, ${input.bound.horizonSeconds})): ${input.bound.peakRatePerSecond} €/s is its highest rate measured over ${input.bound.windows} window(s) (${Math.round(input.bound.seconds)} s) of its own history, each at least ${input.bound.horizonSeconds} s long, so a shorter window may hold a whole ${input.bound.horizonSeconds} s of it at once`);
  } else a.push('no usable spending history for this sub-account yet: only the sign rule was used');
  return a;
}

