import { Money } from '@app/ledger';
import {
  DEFAULT_TOLERANCE, driftOf, effectOnMain, effectOnSubaccount, InDoubtCandidate, matchInDoubt, MAX_IN_DOUBT_CANDIDATES, RECONCILIATION_ACTOR,
  suggestionFor, withinTolerance,
} from './reconciliation';

const m = Money.parse;
const t = (id: string, direction: 'add' | 'remove', amount: string): InDoubtCandidate => ({ id, direction, amount: m(amount) });

/** The rules a wrong sign or an off-by-one would break, pinned (issue 18). */
describe('reconciliation rules: signs, defaults, limits', () => {
  it('drift = observed - expected: less at the provider than in the ledger is negative', () => {
    expect(driftOf(m('7'), m('10')).toFixed()).toBe('-3.000');
    expect(driftOf(m('10'), m('7')).toFixed()).toBe('3.000');
    expect(driftOf(m('5'), m('5')).isZero()).toBe(true);
    expect(suggestionFor(driftOf(m('7'), m('10')))).toBe('usage_likely');
    expect(suggestionFor(driftOf(m('10'), m('7')))).toBe('purchase_or_refund_likely');
  });

  it('a zero drift suggests nothing as usage (it is not negative)', () => {
    expect(suggestionFor(m('0'))).toBe('purchase_or_refund_likely');
  });

  it('the default tolerance is 0.001 EUR, inclusive', () => {
    expect(DEFAULT_TOLERANCE.toFixed()).toBe('0.001');
    expect(withinTolerance(m('0.001'), DEFAULT_TOLERANCE)).toBe(true);
    expect(withinTolerance(m('-0.001'), DEFAULT_TOLERANCE)).toBe(true);
    expect(withinTolerance(m('0.002'), DEFAULT_TOLERANCE)).toBe(false);
    expect(withinTolerance(m('-0.002'), DEFAULT_TOLERANCE)).toBe(false);
    expect(withinTolerance(m('0'), m('0'))).toBe(true);
  });

  it('effects: an add raises the sub-account and lowers main; a remove the reverse', () => {
    expect(effectOnSubaccount(t('a', 'add', '2')).toFixed()).toBe('2.000');
    expect(effectOnSubaccount(t('a', 'remove', '2')).toFixed()).toBe('-2.000');
    expect(effectOnMain(t('a', 'add', '2')).toFixed()).toBe('-2.000');
    expect(effectOnMain(t('a', 'remove', '2')).toFixed()).toBe('2.000');
  });

  it('matchInDoubt searches up to 12 candidates (12 is searched, 13 is too many)', () => {
    expect(MAX_IN_DOUBT_CANDIDATES).toBe(12);
    // Distinct powers of two: exactly one subset sums to any drift.
    const twelve = Array.from({ length: 12 }, (_, i) => t(`c${i}`, 'add', String(2 ** i)));
    const r = matchInDoubt(twelve, m(String(2 ** 11 + 2 ** 3 + 1)), DEFAULT_TOLERANCE);
    expect(r.kind).toBe('unique');
    if (r.kind !== 'unique') throw new Error('expected a unique match');
    expect(r.applied.map((c) => c.id)).toEqual(['c0', 'c3', 'c11']);
    expect(r.notApplied).toHaveLength(9);
    // All twelve applied: the last subset (every bit set) is tried too.
    const all = matchInDoubt(twelve, m(String(2 ** 12 - 1)), DEFAULT_TOLERANCE);
    expect(all.kind === 'unique' && all.applied.length).toBe(12);
    expect(matchInDoubt([...twelve, t('c12', 'add', '4096')], m('1'), DEFAULT_TOLERANCE)).toEqual({ kind: 'too_many', count: 13 });
    // The limit is a parameter: 2 allowed, 3 refused.
    expect(matchInDoubt(twelve.slice(0, 3), m('1'), DEFAULT_TOLERANCE, effectOnSubaccount, 2)).toEqual({ kind: 'too_many', count: 3 });
    expect(matchInDoubt(twelve.slice(0, 2), m('1'), DEFAULT_TOLERANCE, effectOnSubaccount, 2).kind).toBe('unique');
  });

  it('no candidates: only the empty subset, which matches a drift within tolerance and nothing else', () => {
    expect(matchInDoubt([], m('0.001'), DEFAULT_TOLERANCE)).toEqual({ kind: 'unique', applied: [], notApplied: [] });
    expect(matchInDoubt([], m('0.002'), DEFAULT_TOLERANCE)).toEqual({ kind: 'none' });
  });

  it('counts every matching subset when ambiguous', () => {
    expect(matchInDoubt([t('a', 'add', '1'), t('b', 'add', '1'), t('c', 'add', '1')], m('1'), DEFAULT_TOLERANCE)).toEqual({ kind: 'ambiguous', matches: 3 });
  });

  it('what reconciliation does on its own is signed by its actor', () => {
    expect(RECONCILIATION_ACTOR).toBe('system:reconciliation');
  });
});
