import { evaluateInDoubt, Movement, BalanceReading, Verdict } from './evidence';
import { learnSpendBound, measuredWindows, SpendBoundPolicy } from './spending-history';

export interface CascadeInput {
  /** Every reading of the sub-account the history and the brackets may use, any order. */
  readings: BalanceReading[];
  /** Our calls on it whose effect may lie after the first reading; outcome null: in doubt (or executing). */
  movements: Movement[];
  isBuyer: boolean;
  policy: SpendBoundPolicy;
  /** Consecutive exact windows shorter than this merge until they span it (measuredWindows). */
  mergeUntilSeconds: number;
  graceMs: number;
  /** Rounds at most (each round needs a new decision to start the next). */
  maxRounds?: number;
  maxHypotheses?: number;
}

const DEFAULT_ROUNDS = 12;
/** The joint bracket (every in-doubt movement at once) is only weighed when small; each movement's own bracket follows anyway. */
const JOINT_MAX_HYPOTHESES = 2_000;

/**
 * The evidence rules applied until nothing more follows (docs/in-doubt.md, "Cascade"). Each
 * round learns the plausibility bound from the windows measured with what is known so far,
 * weighs every in-doubt movement together (one bracket around all of them) and then each on
 * its own bracket (shorter: fewer placements to weigh); a movement decided in a round enters
 * the next as known — with its outcome and, if applied, the narrower interval its effect was
 * pinned to — which can measure windows it blocked (more history, a bound where there was
 * none) and remove a placement from its neighbours' hypotheses. Sound by induction: a
 * decision is made only when every surviving assignment agrees, the true assignment always
 * survives, so what a round adds is true and the next round's premises stay true.
 *
 * Returns one verdict per in-doubt movement: its decision, or its last (undecided) evaluation.
 */
export function settleCascade(input: CascadeInput): Verdict[] {
  let movements = input.movements;
  const final = new Map<string, Verdict>();
  const rounds = input.maxRounds ?? DEFAULT_ROUNDS;
  for (let round = 0; round < rounds; round++) {
    const open = movements.filter((m) => m.outcome === null);
    if (!open.length) break;
    const bound = input.isBuyer ? null : learnSpendBound(measuredWindows(input.readings, movements, input.mergeUntilSeconds), input.policy);
    const base = { readings: input.readings, isBuyer: input.isBuyer, bound, graceMs: input.graceMs, maxHypotheses: input.maxHypotheses };
    const decided = new Map<string, Verdict>();
    const record = (v: Verdict) => {
      if (decided.has(v.transferId)) return;
      final.set(v.transferId, v);
      if (v.status === 'decided') decided.set(v.transferId, v);
    };
    evaluateInDoubt({ ...base, movements, maxHypotheses: Math.min(JOINT_MAX_HYPOTHESES, input.maxHypotheses ?? JOINT_MAX_HYPOTHESES) }).forEach(record);
    for (const m of open) {
      if (decided.has(m.id)) continue;
      // Each on its own bracket, with what this round has decided already.
      evaluateInDoubt({ ...base, movements: withDecided(movements, decided), focus: m.id }).forEach(record);
    }
    if (!decided.size) break;
    movements = withDecided(movements, decided);
  }
  return input.movements.filter((m) => m.outcome === null && final.has(m.id)).map((m) => final.get(m.id)!);
}

/** The movements with the decided ones known: their outcome, and the interval an applied one was pinned to. */
export function withDecided(movements: Movement[], decided: Map<string, Verdict>): Movement[] {
  return movements.map((m) => {
    const v = decided.get(m.id);
    if (!v || v.status !== 'decided' || !v.outcome) return m;
    const w = v.appliedWithin;
    if (!w) return { ...m, outcome: v.outcome };
    return { ...m, outcome: v.outcome, from: Math.max(m.from, w.from), to: Math.min(m.to, w.to), afterReading: w.afterReading, beforeReading: w.beforeReading };
  });
}
