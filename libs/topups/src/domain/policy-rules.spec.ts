import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { checkPolicy, decide, PolicyFields, TOPUP_ACTOR } from './policy';
import { latestFire, parseSchedule, ScheduleError, scheduleProblem, timezoneProblem } from './schedule';

const m = Money.parse;

describe('top-up decisions at their boundaries', () => {
  const target = { mode: 'target' as const, amount: null, target: m('100'), cap: null };
  it('fixed: the amount, with no reading; a cap equal to the amount changes nothing; a lower cap bounds it and says so', () => {
    expect(decide({ mode: 'fixed', amount: m('10'), target: null, cap: m('10') }, null)).toEqual({ amount: m('10'), explanation: 'fixed 10.000', observed: null });
    const capped = decide({ mode: 'fixed', amount: m('10'), target: null, cap: m('9.999') }, null);
    expect([capped.amount?.toFixed(), capped.explanation]).toEqual(['9.999', 'fixed 10.000, capped at 9.999']);
    // A reading given to fixed mode is reported as observed, and ignored for the amount.
    expect(decide({ mode: 'fixed', amount: m('10'), target: null, cap: null }, { observed: m('500'), pendingNet: m('0') }).observed?.toFixed()).toBe('500.000');
  });

  it('target: exactly at the target is nothing; a pending remove shows with its sign', () => {
    expect(decide(target, { observed: m('99'), pendingNet: m('1') })).toEqual({
      amount: null, explanation: 'target 100.000: provider reading 99.000 (+1.000 pending), already at or above the target', observed: m('99'),
    });
    const r = decide(target, { observed: m('50'), pendingNet: m('-5') });
    expect([r.amount?.toFixed(), r.explanation, r.observed?.toFixed()]).toEqual(['55.000', 'target 100.000: provider reading 50.000 (-5.000 pending), 55.000 missing', '50.000']);
    const capEqual = decide({ ...target, cap: m('55') }, { observed: m('50'), pendingNet: m('-5') });
    expect(capEqual.explanation).toBe('target 100.000: provider reading 50.000 (-5.000 pending), 55.000 missing');
    expect(() => decide(target, null)).toThrow('target mode decides from a balance reading');
  });

  it('checkPolicy: the messages name each problem, and the fields come back normalised', () => {
    const base: PolicyFields = { subaccount: 's', mode: 'target', amount: m('1'), target: null, cap: null, schedule: ' 0 6  1 * * ', timezone: 'Nowhere/Land', enabled: true };
    try {
      checkPolicy(base);
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe('validation_failed');
      expect((err as DomainError).message).toBe('invalid top-up policy: target is required in target mode; amount is for fixed mode only; timezone must be an IANA time zone such as Europe/Paris');
    }
    const ok = checkPolicy({ ...base, amount: null, target: m('5'), timezone: 'America/New_York' });
    expect(ok).toEqual({ ...base, amount: null, target: m('5'), timezone: 'America/New_York', schedule: '0 6 1 * *' });
    expect(() => checkPolicy({ ...base, mode: 'fixed', amount: null, target: m('5'), timezone: 'UTC' }))
      .toThrow('invalid top-up policy: amount is required in fixed mode; target is for target mode only');
    expect(TOPUP_ACTOR).toBe('system:topups');
  });
});

describe('schedule validation messages and limits', () => {
  it('explains each refusal', () => {
    expect(scheduleProblem('0 6 1 *')).toBe('must be a cron expression with 5 fields (minute hour day-of-month month day-of-week)');
    expect(scheduleProblem('  0 6 1 * *  ')).toBeNull();
    expect(scheduleProblem('0 6 32 * *')).toBe('is not a valid cron expression (Field value (32) is out of range)');
    expect(timezoneProblem('Europe/Paris ')).toBe('must be an IANA time zone such as Europe/Paris');
    expect(timezoneProblem('Etc/GMT+5')).toBeNull();
    expect(timezoneProblem('Mars/Olympus')).toBe('must be an IANA time zone such as Europe/Paris');
    expect(() => parseSchedule('nope', 'UTC')).toThrow(ScheduleError);
    expect(() => parseSchedule('0 6 1 * *', 'Nowhere/Land')).toThrow('must be an IANA time zone such as Europe/Paris');
    expect(parseSchedule('0\t6 1 * *', 'UTC')).toEqual({ expression: '0 6 1 * *', timezone: 'UTC' });
  });

  it('latestFire gives up beyond its lookback', () => {
    const yearly = parseSchedule('0 0 1 1 *', 'UTC');
    expect(latestFire(yearly, new Date('2026-06-01T00:00:00Z'), 30 * 86_400_000)).toBeNull();
    expect(latestFire(yearly, new Date('2026-06-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(latestFire(yearly, new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
});
