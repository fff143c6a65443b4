import { Money } from '@app/ledger';
import {
  DEFAULT_TOLERANCE, driftOf, effectOnMain, effectOnSubaccount, InDoubtCandidate, RECONCILIATION_ACTOR,
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

  it('what reconciliation does on its own is signed by its actor', () => {
    expect(RECONCILIATION_ACTOR).toBe('system:reconciliation');
  });
});
