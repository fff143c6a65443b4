import { CronTime } from 'cron';

/**
 * The schedule of a top-up policy: a 5-field cron expression read as wall-clock time in an
 * IANA time zone. Pure functions of (expression, zone, instant); no clock, no I/O.
 *
 * How a person reads "30 2 * * *, Europe/Paris" decides the edge cases (docs/topups.md):
 * - each matching local time fires once. In the autumn the hour 02:00-02:59 happens twice:
 *   a time in it fires at its first occurrence only;
 * - a matching local time that does not exist (the spring-forward gap, 02:00-02:59 in Paris)
 *   fires once, at the first instant after the gap (03:00 local);
 * - day 31 fires only in months that have a 31st (the same for 29 and 30 in February): cron
 *   matches calendar days, it never moves a fire to the month's last day.
 *
 * The cron library only matches the fields: it runs on "naive" local times (wall-clock
 * fields carried in a UTC date, where no DST exists); turning a local time into an instant is
 * done here with Intl, because the library's own zone handling moves fires near DST changes
 * (a 03:00 daily schedule fired at 02:00 on the autumn change).
 */

export const DEFAULT_SCHEDULE = '0 6 1 * *';

export class ScheduleError extends Error {}

export interface Schedule {
  readonly expression: string;
  readonly timezone: string;
}

/** Local wall-clock fields carried in a UTC millisecond value. */
type Naive = number;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const cronCache = new Map<string, CronTime>();
const formatCache = new Map<string, Intl.DateTimeFormat>();

/** Validates an expression (exactly 5 fields: minute hour day-of-month month day-of-week) and a zone. */
export function parseSchedule(expression: string, timezone: string): Schedule {
  const problem = scheduleProblem(expression) ?? timezoneProblem(timezone);
  if (problem) throw new ScheduleError(problem);
  return { expression: expression.trim().split(/\s+/).join(' '), timezone };
}

/** Why an expression is not a usable schedule, or null. */
export function scheduleProblem(expression: string): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return 'must be a cron expression with 5 fields (minute hour day-of-month month day-of-week)';
  try {
    const cron = cronOf(fields.join(' '));
    // An expression that never matches (e.g. 31 February) would make every lookup search for years.
    cron.getNextDateFrom(new Date(Date.UTC(2000, 0, 1)), 'UTC');
  } catch (err) {
    return `is not a valid cron expression (${(err as Error).message.split('\n')[0]})`;
  }
  return null;
}

export function timezoneProblem(timezone: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(timezone)) return 'must be an IANA time zone such as Europe/Paris';
  try {
    formatter(timezone);
    return null;
  } catch {
    return 'must be an IANA time zone such as Europe/Paris';
  }
}

/** The first fire strictly after `after`. */
export function nextFire(s: Schedule, after: Date): Date {
  const cron = cronOf(s.expression);
  let naive = naiveOf(after.getTime(), s.timezone);
  for (let guard = 0; guard < 10_000; guard++) {
    naive = cron.getNextDateFrom(new Date(naive), 'UTC').toMillis();
    const instant = instantOf(naive, s.timezone);
    // A time in the repeated autumn hour, looked up from its second pass, maps back to its
    // first occurrence (already past): move on to the next matching local time.
    if (instant > after.getTime()) return new Date(instant);
  }
  throw new ScheduleError(`no fire found after ${after.toISOString()}`);
}

/** Fires f with from < f <= to, oldest first; at most `limit` (the oldest ones). */
export function firesBetween(s: Schedule, from: Date, to: Date, limit = 10_000): Date[] {
  const out: Date[] = [];
  let at = from;
  while (out.length < limit) {
    const f = nextFire(s, at);
    if (f > to) break;
    out.push(f);
    at = f;
  }
  return out;
}

/**
 * The most recent fire at or before `at`, or null when there is none within `lookbackMs`.
 * Cron only looks forward: windows that grow backwards from `at` keep the scan short whatever
 * the frequency (a per-minute schedule is found in the first hour, a monthly one within 32 days).
 */
export function latestFire(s: Schedule, at: Date, lookbackMs = 4 * 366 * DAY + DAY): Date | null {
  for (const w of [HOUR, DAY, 8 * DAY, 32 * DAY, 367 * DAY, lookbackMs]) {
    const window = Math.min(w, lookbackMs);
    let last: Date | null = null;
    let cursor = new Date(at.getTime() - window);
    for (;;) {
      const f = nextFire(s, cursor);
      if (f > at) break;
      last = f;
      cursor = f;
    }
    if (last || window >= lookbackMs) return last;
  }
  return null;
}

/**
 * The canonical name of the period a fire opens: its local time with the zone's offset, to the
 * minute (`2026-12-01T06:00+01:00`). It reads as the time the policy was scheduled for, sorts
 * by month within one zone, and tells apart the two occurrences of an autumn hour.
 */
export function periodKey(fire: Date, timezone: string): string {
  const p = partsOf(fire.getTime(), timezone);
  const offsetMin = Math.round((Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(fire.getTime() / 1000) * 1000) / MINUTE);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The offset (ms) of a zone at an instant: local wall-clock minus UTC. */
export function offsetAt(instant: number, timezone: string): number {
  const whole = Math.floor(instant / 1000) * 1000;
  return naiveOf(whole, timezone) - whole;
}

// ---------------------------------------------------------------------------------- zones

function cronOf(expression: string): CronTime {
  let c = cronCache.get(expression);
  if (!c) {
    c = new CronTime(expression, 'UTC');
    cronCache.set(expression, c);
  }
  return c;
}

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatCache.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatCache.set(timezone, f);
  }
  return f;
}

function partsOf(instant: number, timezone: string) {
  const p: Record<string, number> = {};
  for (const part of formatter(timezone).formatToParts(new Date(instant))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { year: p.year, month: p.month, day: p.day, hour: p.hour, minute: p.minute, second: p.second };
}

/** The local wall-clock time of an instant (ms dropped), as naive fields. */
function naiveOf(instant: number, timezone: string): Naive {
  const p = partsOf(instant, timezone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + (instant - Math.floor(instant / 1000) * 1000);
}

/**
 * The instant a local time happens at. Ambiguous (autumn): its first occurrence. Skipped
 * (spring gap): the first instant after the gap, i.e. the moment the clocks change.
 */
function instantOf(naive: Naive, timezone: string): number {
  const before = offsetAt(naive - DAY, timezone);
  const after = offsetAt(naive + DAY, timezone);
  const candidates = [...new Set([naive - before, naive - after])].filter((t) => naiveOf(t, timezone) === naive).sort((a, b) => a - b);
  if (candidates.length) return candidates[0];
  // In the gap: the change happens between naive - after and naive - before; find it to the second.
  let lo = naive - after;
  let hi = naive - before;
  if (lo > hi) [lo, hi] = [hi, lo];
  const offsetLo = offsetAt(lo, timezone);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid, timezone) === offsetLo) lo = mid;
    else hi = mid;
  }
  return hi;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
