import { Money } from '@app/ledger';
import { effectOnMain, effectOnSubaccount, InDoubtCandidate, suggestionFor, withinTolerance } from './reconciliation';

const m = Money.parse;
const tol = m('0.001');
const t = (id: string, direction: 'add' | 'remove', amount: string): InDoubtCandidate => ({ id, direction, amount: m(amount) });

describe('effects of a transfer', () => {
  it('the main account sees the opposite effect of the sub-account', () => {
    expect(effectOnSubaccount(t('a', 'add', '4')).toFixed()).toBe('4.000');
    expect(effectOnMain(t('a', 'add', '4')).toFixed()).toBe('-4.000');
    expect(effectOnMain(t('a', 'remove', '1.5')).toFixed()).toBe('1.500');
  });
});

describe('drift classification', () => {
  it('tolerance is inclusive and symmetric', () => {
    expect(withinTolerance(m('0.001'), tol)).toBe(true);
    expect(withinTolerance(m('-0.001'), tol)).toBe(true);
    expect(withinTolerance(m('0.002'), tol)).toBe(false);
  });
  it('suggests usage for a negative drift, purchase or refund for a positive one', () => {
    expect(suggestionFor(m('-1'))).toBe('usage_likely');
    expect(suggestionFor(m('1'))).toBe('purchase_or_refund_likely');
  });
});
