import { Money } from '@app/ledger';
import { effectOnMain, InDoubtCandidate, matchInDoubt, suggestionFor, withinTolerance } from './reconciliation';

const m = Money.parse;
const tol = m('0.001');
const t = (id: string, direction: 'add' | 'remove', amount: string): InDoubtCandidate => ({ id, direction, amount: m(amount) });

describe('in-doubt subset matching', () => {
  it('one applied add explains a positive drift; the other is not applied', () => {
    const r = matchInDoubt([t('a', 'add', '4'), t('b', 'add', '6')], m('4.000'), tol);
    expect(r).toMatchObject({ kind: 'unique' });
    if (r.kind !== 'unique') throw new Error();
    expect(r.applied.map((x) => x.id)).toEqual(['a']);
    expect(r.notApplied.map((x) => x.id)).toEqual(['b']);
  });

  it('no drift: the empty subset is the answer (nothing applied)', () => {
    const r = matchInDoubt([t('a', 'add', '4'), t('b', 'remove', '1.5')], m('0'), tol);
    expect(r.kind === 'unique' && r.applied.length === 0 && r.notApplied.length === 2).toBe(true);
  });

  it('adds and removes combine with their signs', () => {
    const r = matchInDoubt([t('a', 'add', '4'), t('b', 'remove', '1.5'), t('c', 'add', '10')], m('2.5'), tol);
    expect(r.kind === 'unique' && r.applied.map((x) => x.id)).toEqual(['a', 'b']);
  });

  it('within tolerance only', () => {
    expect(matchInDoubt([t('a', 'add', '4')], m('3.999'), tol).kind).toBe('unique');
    expect(matchInDoubt([t('a', 'add', '4')], m('3.998'), tol).kind).toBe('none');
  });

  it('usage on top of an applied transfer matches nothing', () => {
    expect(matchInDoubt([t('a', 'add', '4')], m('2.5'), tol)).toEqual({ kind: 'none' });
  });

  it('several explanations are ambiguous', () => {
    expect(matchInDoubt([t('a', 'add', '5'), t('b', 'add', '5')], m('5'), tol)).toEqual({ kind: 'ambiguous', matches: 2 });
    expect(matchInDoubt([t('a', 'add', '5'), t('b', 'remove', '5')], m('0'), tol)).toEqual({ kind: 'ambiguous', matches: 2 });
  });

  it('refuses to search too many candidates', () => {
    const many = Array.from({ length: 13 }, (_, i) => t(String(i), 'add', '1'));
    expect(matchInDoubt(many, m('1'), tol)).toEqual({ kind: 'too_many', count: 13 });
  });

  it('the main account sees the opposite effect', () => {
    expect(effectOnMain(t('a', 'add', '4')).toFixed()).toBe('-4.000');
    const r = matchInDoubt([t('a', 'add', '4')], m('-4'), tol, effectOnMain);
    expect(r.kind).toBe('unique');
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
