import { DEFAULT_SCHEDULE, firesBetween, latestFire, nextFire, parseSchedule, periodKey, scheduleProblem, timezoneProblem } from './schedule';

const paris = (expr: string) => parseSchedule(expr, 'Europe/Paris');
const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;
const keys = (s: ReturnType<typeof paris>, from: string, to: string) => firesBetween(s, at(from), at(to)).map((f) => periodKey(f, s.timezone));

describe('top-up schedule (cron in a time zone)', () => {
  describe('the default: monthly on the 1st at 06:00 Europe/Paris', () => {
    const s = paris(DEFAULT_SCHEDULE);

    it('fires at 06:00 local, whatever the offset of the month (CET in winter, CEST in summer)', () => {
      expect(keys(s, '2026-01-15T00:00:00Z', '2026-07-15T00:00:00Z')).toEqual([
        '2026-02-01T06:00+01:00', '2026-03-01T06:00+01:00', '2026-04-01T06:00+02:00', '2026-05-01T06:00+02:00',
        '2026-06-01T06:00+02:00', '2026-07-01T06:00+02:00',
      ]);
      expect(iso(nextFire(s, at('2026-03-15T00:00:00Z')))).toBe('2026-04-01T04:00:00.000Z');
      expect(iso(nextFire(s, at('2026-11-23T12:00:00Z')))).toBe('2026-12-01T05:00:00.000Z');
    });

    it('crosses the month (and year) boundary: the fire at exactly 06:00 belongs to the new month', () => {
      expect(iso(nextFire(s, at('2026-12-01T04:59:59.999Z')))).toBe('2026-12-01T05:00:00.000Z');
      // Strictly after: the fire instant itself looks forward to the next month.
      expect(iso(nextFire(s, at('2026-12-01T05:00:00.000Z')))).toBe('2027-01-01T05:00:00.000Z');
      expect(iso(latestFire(s, at('2026-12-01T05:00:00.000Z')))).toBe('2026-12-01T05:00:00.000Z');
      expect(iso(latestFire(s, at('2026-12-01T04:59:59.999Z')))).toBe('2026-11-01T05:00:00.000Z');
      expect(iso(latestFire(s, at('2027-01-20T00:00:00Z')))).toBe('2027-01-01T05:00:00.000Z');
    });

    it('is a local time: midnight on the 1st in Paris is still the previous month in UTC', () => {
      const midnight = paris('0 0 1 * *');
      expect(iso(nextFire(midnight, at('2026-12-15T00:00:00Z')))).toBe('2026-12-31T23:00:00.000Z');
      expect(periodKey(nextFire(midnight, at('2026-12-15T00:00:00Z')), 'Europe/Paris')).toBe('2027-01-01T00:00+01:00');
    });
  });

  describe('month ends', () => {
    it('day 31 fires only in months that have a 31st (never moved to the last day)', () => {
      expect(keys(paris('0 6 31 * *'), '2026-01-01T00:00:00Z', '2026-12-31T23:59:59Z')).toEqual([
        '2026-01-31T06:00+01:00', '2026-03-31T06:00+02:00', '2026-05-31T06:00+02:00', '2026-07-31T06:00+02:00',
        '2026-08-31T06:00+02:00', '2026-10-31T06:00+01:00', '2026-12-31T06:00+01:00',
      ]);
    });

    it('days 29 and 30 skip February; 29 February fires only in leap years', () => {
      expect(keys(paris('0 6 30 * *'), '2026-01-01T00:00:00Z', '2026-04-01T00:00:00Z')).toEqual(['2026-01-30T06:00+01:00', '2026-03-30T06:00+02:00']);
      expect(keys(paris('0 6 29 * *'), '2028-01-01T00:00:00Z', '2028-04-01T00:00:00Z')).toEqual(['2028-01-29T06:00+01:00', '2028-02-29T06:00+01:00', '2028-03-29T06:00+02:00']);
      expect(iso(nextFire(paris('0 6 29 2 *'), at('2026-01-01T00:00:00Z')))).toBe('2028-02-29T05:00:00.000Z');
      expect(iso(latestFire(paris('0 6 29 2 *'), at('2027-06-01T00:00:00Z')))).toBe('2024-02-29T05:00:00.000Z');
    });

    it('an expression that never matches (31 February) is refused', () => {
      expect(scheduleProblem('0 6 31 2 *')).toMatch(/not a valid cron expression/);
      expect(() => paris('0 6 31 2 *')).toThrow();
    });
  });

  describe('daylight saving in Europe/Paris', () => {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00Z). 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00Z).
    it('spring forward: a daily 02:30 (a time that does not exist that day) fires once, at 03:00 local, and at 02:30 again the next day', () => {
      const s = paris('30 2 * * *');
      const fires = firesBetween(s, at('2026-03-27T12:00:00Z'), at('2026-03-31T12:00:00Z'));
      expect(fires.map((f) => periodKey(f, 'Europe/Paris'))).toEqual([
        '2026-03-28T02:30+01:00', '2026-03-29T03:00+02:00', '2026-03-30T02:30+02:00', '2026-03-31T02:30+02:00',
      ]);
      expect(iso(fires[1])).toBe('2026-03-29T01:00:00.000Z');
    });

    it('spring forward: times around the gap are not disturbed', () => {
      expect(keys(paris('59 1 * * *'), '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual(['2026-03-29T01:59+01:00']);
      expect(keys(paris('0 3 * * *'), '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual(['2026-03-29T03:00+02:00']);
      // 02:30 and 03:00 both map to the instant the clocks change: one fire, not two.
      expect(keys(paris('30 2,3 * * *'), '2026-03-28T12:00:00Z', '2026-03-29T12:00:00Z')).toEqual(['2026-03-29T03:00+02:00', '2026-03-29T03:30+02:00']);
    });

    it('fall back: a daily 02:30 (a time that happens twice) fires once, at its first occurrence', () => {
      const s = paris('30 2 * * *');
      const fires = firesBetween(s, at('2026-10-24T12:00:00Z'), at('2026-10-26T12:00:00Z'));
      expect(fires.map((f) => periodKey(f, 'Europe/Paris'))).toEqual(['2026-10-25T02:30+02:00', '2026-10-26T02:30+01:00']);
      expect(iso(fires[0])).toBe('2026-10-25T00:30:00.000Z');
      // Looked up during the second pass of 02:00-02:59 (01:10Z = 02:10 CET), it is already past.
      expect(iso(nextFire(s, at('2026-10-25T01:10:00Z')))).toBe('2026-10-26T01:30:00.000Z');
    });

    it('fall back: a daily 03:00 fires at 03:00 CET (not an hour early), an hourly schedule fires each local hour once', () => {
      expect(iso(nextFire(paris('0 3 * * *'), at('2026-10-24T12:00:00Z')))).toBe('2026-10-25T02:00:00.000Z');
      expect(keys(paris('0 * * * *'), '2026-10-24T23:30:00Z', '2026-10-25T03:30:00Z')).toEqual([
        '2026-10-25T02:00+02:00', '2026-10-25T03:00+01:00', '2026-10-25T04:00+01:00',
      ]);
    });

    it('the monthly default is at 06:00 local across both changes (one fire per month, never two)', () => {
      const fires = firesBetween(paris(DEFAULT_SCHEDULE), at('2026-01-01T12:00:00Z'), at('2027-01-01T12:00:00Z'));
      expect(fires).toHaveLength(12);
      expect(fires.every((f) => periodKey(f, 'Europe/Paris').slice(8, 16) === '01T06:00')).toBe(true);
    });
  });

  describe('periods', () => {
    it('latestFire finds the latest fire at or before an instant, for frequent and rare schedules', () => {
      expect(iso(latestFire(paris('* * * * *'), at('2026-11-23T10:15:30Z')))).toBe('2026-11-23T10:15:00.000Z');
      expect(iso(latestFire(paris('0 0 1 1 *'), at('2026-11-23T10:15:30Z')))).toBe('2025-12-31T23:00:00.000Z');
    });

    it('firesBetween excludes the start, includes the end and keeps the oldest when limited', () => {
      const s = paris(DEFAULT_SCHEDULE);
      expect(keys(s, '2026-11-01T05:00:00Z', '2027-01-01T05:00:00Z')).toEqual(['2026-12-01T06:00+01:00', '2027-01-01T06:00+01:00']);
      expect(firesBetween(s, at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z'), 2).map((f) => periodKey(f, 'Europe/Paris'))).toEqual(['2026-01-01T06:00+01:00', '2026-02-01T06:00+01:00']);
    });

    it('period keys carry the offset of other zones too', () => {
      expect(periodKey(at('2026-12-01T05:00:00Z'), 'UTC')).toBe('2026-12-01T05:00+00:00');
      expect(periodKey(at('2026-12-01T05:00:00Z'), 'America/New_York')).toBe('2026-12-01T00:00-05:00');
      expect(periodKey(at('2026-12-01T05:00:00Z'), 'Asia/Kolkata')).toBe('2026-12-01T10:30+05:30');
    });
  });

  describe('validation', () => {
    it.each(['0 6 1 *', '0 0 6 1 * *', '61 6 1 * *', 'every month', '@monthly', ''])('refuses %j', (expr) => {
      expect(scheduleProblem(expr)).not.toBeNull();
    });
    it.each(['0 6 1 * *', '*/15 8-18 * * 1-5', '0 6 L * *'.replace('L', '28')])('accepts %j', (expr) => {
      expect(scheduleProblem(expr)).toBeNull();
    });
    it('time zones must be IANA names', () => {
      expect(timezoneProblem('Europe/Paris')).toBeNull();
      expect(timezoneProblem('Mars/Olympus')).not.toBeNull();
      expect(timezoneProblem('../etc')).not.toBeNull();
    });
  });
});
