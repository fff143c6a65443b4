import Decimal from 'decimal.js';
import { Money } from '@app/ledger';
import { BalanceReading, canBeAfter, canBeBefore, Movement, orderedReadings, SpendBound, surelyAfter, surelyBefore } from './evidence';

/**
 * An account's spending history (docs/in-doubt.md): the usage measured between two exact
 * readings with only calls of known outcome between them, and the plausibility bound learned
 * from those windows. Pure functions; times are epoch milliseconds.
 */

/** The shortest window a spending rate is measured over (docs/in-doubt.md: no window counts as shorter). */
export const SPENDING_WINDOW_SECONDS = 5;

/** Usage measured between two readings; `endsAt`: the later reading's instant. */
export interface UsageWindow { usage: Money; seconds: number; endsAt?: number }

export interface SpendBoundPolicy {
  floor: Money;
  factor: string;
  /** Windows shorter than this do not measure a rate (one SMS in 0.1 s is not a rate). */
  minWindowSeconds: number;
  /** Fewer measured windows: no bound, sign rule only. */
  minWindows: number;
}

/** The plausibility bound learned from an account's own measured usage windows, or null. */
export function learnSpendBound(windows: UsageWindow[], policy: SpendBoundPolicy): SpendBound | null {
  const measured = windows.filter((w) => w.seconds >= policy.minWindowSeconds && !w.usage.isNegative());
  if (measured.length < policy.minWindows) return null;
  let peak = new Decimal(0);
  let seconds = 0;
  for (const w of measured) {
    const rate = new Decimal(w.usage.toFixed()).dividedBy(w.seconds);
    if (rate.greaterThan(peak)) peak = rate;
    seconds += w.seconds;
  }
  return {
    floor: policy.floor, factor: policy.factor, peakRatePerSecond: peak.toDecimalPlaces(6, Decimal.ROUND_UP).toFixed(), horizonSeconds: policy.minWindowSeconds,
    windows: measured.length, seconds,
  };
}

// ----------------------------------------------------------------------------- usage between readings

export type UsageStep =
  | { kind: 'measured'; usage: Money; known: Money }
  | { kind: 'blocked'; why: string }
  | { kind: 'straddled' };

/**
 * What the account spent between two readings: prev + (effects of our applied calls between
 * them) - next. Only when every call that may lie between them has a known outcome and lies
 * wholly between them: `blocked` while one is in doubt or executing, `straddled` when a
 * known call's effect may lie on either side of `next` (try a later reading).
 */
export function usageBetween(prev: BalanceReading, next: BalanceReading, movements: Movement[]): UsageStep {
  let known = Money.ZERO;
  for (const m of movements) {
    const before = surelyBefore(m, prev);
    const afterAll = surelyAfter(m, next);
    if (before || afterAll) continue;
    if (m.outcome === null) return { kind: 'blocked', why: `transfer ${m.id} is in doubt or executing` };
    if (m.outcome === 'not_applied') continue;
    if (canBeBefore(m, prev) || canBeAfter(m, next)) return { kind: 'straddled' };
    known = known.plus(m.effect);
  }
  return { kind: 'measured', usage: prev.balance.plus(known).minus(next.balance), known };
}

/**
 * The usage windows measured from an account's own readings: each pair of consecutive
 * readings with only known calls between them (the learner's input), and, where such pairs
 * follow one another with nothing unknown between, their run merged into one window once it
 * spans `mergeUntilSeconds` (an account called every few seconds then still measures a rate:
 * a merged window is as exact as its parts, since every call inside it has a known outcome).
 */
export function measuredWindows(readings: BalanceReading[], movements: Movement[], mergeUntilSeconds = 0): UsageWindow[] {
  const ordered = orderedReadings(readings);
  const out: UsageWindow[] = [];
  let prev: BalanceReading | undefined = ordered[0];
  let run: { from: number; usage: Money } | null = null;
  for (const next of ordered.slice(1)) {
    const step = usageBetween(prev!, next, movements);
    if (step.kind === 'straddled') continue;
    if (step.kind === 'measured' && !step.usage.isNegative()) {
      const seconds = (next.at - prev!.from) / 1000;
      out.push({ usage: step.usage, seconds, endsAt: next.at });
      if (mergeUntilSeconds > 0 && seconds < mergeUntilSeconds) {
        run = run ? { from: run.from, usage: run.usage.plus(step.usage) } : { from: prev!.from, usage: step.usage };
        const span = (next.at - run.from) / 1000;
        if (span >= mergeUntilSeconds) {
          out.push({ usage: run.usage, seconds: span, endsAt: next.at });
          run = null;
        }
      } else run = null;
    } else run = null;
    prev = next;
  }
  return out;
}
