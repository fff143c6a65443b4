import type { BalanceReading, Movement } from './evidence';

/**
 * Where a movement's effect can lie against a reading's instant (evidence.ts): from their
 * time intervals, and from what a decision pinned (Movement.afterReading / beforeReading).
 */

/** Can the movement's effect lie before the reading's instant? */
export function canBeBefore(m: Movement, r: BalanceReading): boolean {
  if (m.afterReading === r.id) return false;
  return r.afterMovement === m.id || m.beforeReading === r.id || m.from < r.at;
}

/** Can it lie after? */
export function canBeAfter(m: Movement, r: BalanceReading): boolean {
  if (m.afterReading === r.id) return true;
  return r.afterMovement !== m.id && m.beforeReading !== r.id && m.to > r.from;
}

/** Does the movement's effect (if any) surely lie before the reading's instant? */
export function surelyBefore(m: Movement, r: BalanceReading): boolean {
  return r.afterMovement === m.id || m.beforeReading === r.id || m.to <= r.from;
}

/** … surely after it? */
export function surelyAfter(m: Movement, r: BalanceReading): boolean {
  return r.afterMovement !== m.id && (m.afterReading === r.id || m.from >= r.at);
}

/** Readings in time order; one whose interval overlaps the previous kept one is dropped (their order is unknown). */
export function orderedReadings(readings: BalanceReading[]): BalanceReading[] {
  const sorted = [...readings].sort((a, b) => a.at - b.at || a.from - b.from);
  const kept: BalanceReading[] = [];
  for (const r of sorted) {
    const prev = kept[kept.length - 1];
    if (prev && r.from < prev.at) continue;
    kept.push(r);
  }
  return kept;
}
