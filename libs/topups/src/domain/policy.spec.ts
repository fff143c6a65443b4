import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { checkPolicy, decide, PolicyFields } from './policy';

const m = Money.parse;
const reading = (observed: string, pendingNet = '0') => ({ observed: m(observed), pendingNet: m(pendingNet) });

describe('top-up decision', () => {
  it('fixed: the amount, bounded by the cap', () => {
    expect(decide({ mode: 'fixed', amount: m('25'), target: null, cap: null }, null)).toEqual({ amount: m('25'), explanation: 'fixed 25.000', observed: null });
    expect(decide({ mode: 'fixed', amount: m('25'), target: null, cap: m('10.5') }, null).amount?.toFixed()).toBe('10.500');
    expect(decide({ mode: 'fixed', amount: m('25'), target: null, cap: m('30') }, null).explanation).toBe('fixed 25.000');
  });

  it('target: what brings the reading plus pending transfers up to the target; nothing at or above it', () => {
    const p = { mode: 'target' as const, amount: null, target: m('100'), cap: null };
    expect(decide(p, reading('17.5')).amount?.toFixed()).toBe('82.500');
    expect(decide(p, reading('17.5', '20')).explanation).toBe('target 100.000: provider reading 17.500 (+20.000 pending), 62.500 missing');
    expect(decide(p, reading('17.5', '-2.5')).amount?.toFixed()).toBe('85.000');
    expect(decide(p, reading('99.999')).amount?.toFixed()).toBe('0.001');
    expect(decide(p, reading('100'))).toMatchObject({ amount: null, explanation: 'target 100.000: provider reading 100.000, already at or above the target' });
    expect(decide(p, reading('80', '20')).amount).toBeNull();
    expect(decide({ ...p, cap: m('50') }, reading('0')).explanation).toBe('target 100.000: provider reading 0.000, 100.000 missing, capped at 50.000');
    expect(() => decide(p, null)).toThrow();
  });
});

describe('policy shape', () => {
  const base: PolicyFields = { subaccount: 's', mode: 'fixed', amount: m('1'), target: null, cap: null, schedule: '0  6 1 * *', timezone: 'Europe/Paris', enabled: true };
  const issues = (f: PolicyFields) => {
    try {
      checkPolicy(f);
      return [];
    } catch (err) {
      return ((err as DomainError).details as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    }
  };

  it('normalises the schedule', () => {
    expect(checkPolicy(base).schedule).toBe('0 6 1 * *');
  });

  it('each mode needs its own field and not the other', () => {
    expect(issues({ ...base, amount: null })).toEqual(['amount']);
    expect(issues({ ...base, target: m('5') })).toEqual(['target']);
    expect(issues({ ...base, mode: 'target' })).toEqual(['target', 'amount']);
    expect(issues({ ...base, mode: 'target', amount: null, target: m('5') })).toEqual([]);
  });

  it('refuses unusable schedules and zones', () => {
    expect(issues({ ...base, schedule: '0 6 * *', timezone: 'Nowhere/Land' })).toEqual(['schedule', 'timezone']);
  });
});
