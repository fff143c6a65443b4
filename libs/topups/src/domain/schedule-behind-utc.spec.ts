import { DEFAULT_SCHEDULE, firesBetween, latestFire, nextFire, offsetAt, parseSchedule, periodKey } from './schedule';

/**
 * Daylight saving in a zone BEHIND UTC (America/New_York: EST -05:00, EDT -04:00). The local
 * day starts after the UTC day there, so a rule that mixes the two calendars fails here and
 * not in Europe/Paris. 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00Z). 2026-11-01: 02:00 EDT
 * becomes 01:00 EST (06:00Z).
 */
const ny = (expr: string) => parseSchedule(expr, 'America/New_York');
const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;
const keys = (expr: string, from: string, to: string) => firesBetween(ny(expr), at(from), at(to)).map((f) => periodKey(f, 'America/New_York'));

describe('top-up schedule in America/New_York (behind UTC)', () => {
  it('spring forward: a daily 02:30 (missing that day) fires once at 03:00 EDT, then at 02:30 again', () => {
    const fires = firesBetween(ny('30 2 * * *'), at('2026-03-06T12:00:00Z'), at('2026-03-10T12:00:00Z'));
    expect(fires.map((f) => periodKey(f, 'America/New_York'))).toEqual([
      '2026-03-07T02:30-05:00', '2026-03-08T03:00-04:00', '2026-03-09T02:30-04:00', '2026-03-10T02:30-04:00',
    ]);
    expect(iso(fires[1])).toBe('2026-03-08T07:00:00.000Z');
  });

  it('spring forward: 01:59 and 03:00 are undisturbed; 02:30 and 03:00 collapse into one fire', () => {
    expect(keys('59 1 * * *', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z')).toEqual(['2026-03-08T01:59-05:00']);
    expect(keys('0 3 * * *', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z')).toEqual(['2026-03-08T03:00-04:00']);
    expect(keys('30 2,3 * * *', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z')).toEqual(['2026-03-08T03:00-04:00', '2026-03-08T03:30-04:00']);
  });

  it('fall back: a daily 01:30 (happens twice) fires once, at its first occurrence (EDT)', () => {
    const fires = firesBetween(ny('30 1 * * *'), at('2026-10-31T12:00:00Z'), at('2026-11-02T12:00:00Z'));
    expect(fires.map((f) => periodKey(f, 'America/New_York'))).toEqual(['2026-11-01T01:30-04:00', '2026-11-02T01:30-05:00']);
    expect(iso(fires[0])).toBe('2026-11-01T05:30:00.000Z');
    // During the second pass of 01:00-01:59 (06:10Z = 01:10 EST) it is already past.
    expect(iso(nextFire(ny('30 1 * * *'), at('2026-11-01T06:10:00Z')))).toBe('2026-11-02T06:30:00.000Z');
  });

  it('late evening local is already the next UTC day: the local calendar decides the period', () => {
    // 23:00 on 31 December in New York is 04:00Z on 1 January: the local month decides the period.
    expect(keys('0 23 31 12 *', '2026-12-01T00:00:00Z', '2027-01-02T00:00:00Z')).toEqual(['2026-12-31T23:00-05:00']);
    expect(iso(nextFire(ny('0 23 31 12 *'), at('2026-12-31T12:00:00Z')))).toBe('2027-01-01T04:00:00.000Z');
    // The default (monthly on the 1st at 06:00) at 06:00 local, EST or EDT: 11:00Z or 10:00Z.
    expect(iso(nextFire(ny(DEFAULT_SCHEDULE), at('2026-02-15T00:00:00Z')))).toBe('2026-03-01T11:00:00.000Z');
    expect(iso(nextFire(ny(DEFAULT_SCHEDULE), at('2026-03-15T00:00:00Z')))).toBe('2026-04-01T10:00:00.000Z');
    expect(iso(latestFire(ny(DEFAULT_SCHEDULE), at('2026-04-01T09:59:59Z')))).toBe('2026-03-01T11:00:00.000Z');
    const fires = firesBetween(ny(DEFAULT_SCHEDULE), at('2026-01-01T12:00:00Z'), at('2027-01-01T12:00:00Z'));
    expect(fires).toHaveLength(12);
    expect(fires.every((f) => periodKey(f, 'America/New_York').slice(8, 16) === '01T06:00')).toBe(true);
  });

  it('the offset follows the zone, not the machine (ms, local minus UTC)', () => {
    const h = 3_600_000;
    expect(offsetAt(Date.parse('2026-01-15T12:00:00Z'), 'America/New_York')).toBe(-5 * h);
    expect(offsetAt(Date.parse('2026-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * h);
    expect(offsetAt(Date.parse('2026-03-08T06:59:59Z'), 'America/New_York')).toBe(-5 * h);
    expect(offsetAt(Date.parse('2026-03-08T07:00:00Z'), 'America/New_York')).toBe(-4 * h);
    expect(offsetAt(Date.parse('2026-03-08T07:00:00.999Z'), 'America/New_York')).toBe(-4 * h);
  });
});
