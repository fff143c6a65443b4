import Decimal from 'decimal.js';
import { Money, MoneyFormatError } from './money';

const m = Money.parse;

describe('Money: every operation and comparison, and what parse refuses', () => {
  it('arithmetic', () => {
    expect(m('5').plus(m('2.5')).toFixed()).toBe('7.500');
    expect(m('5').minus(m('2.5')).toFixed()).toBe('2.500');
    expect(m('2.5').minus(m('5')).toFixed()).toBe('-2.500');
    expect(m('2.5').negated().toFixed()).toBe('-2.500');
    expect(m('-2.5').abs().toFixed()).toBe('2.500');
    expect(m('2.5').abs().toFixed()).toBe('2.500');
    expect(Money.sum([]).toFixed()).toBe('0.000');
    expect(Money.sum([m('1'), m('-0.25'), m('0.001')]).toFixed()).toBe('0.751');
    expect(Money.ZERO.toFixed()).toBe('0.000');
  });

  it('signs', () => {
    expect([m('0').isZero(), m('0.001').isZero(), m('-0.001').isZero()]).toEqual([true, false, false]);
    expect([m('0').isPositive(), m('0.001').isPositive(), m('-0.001').isPositive()]).toEqual([false, true, false]);
    expect([m('0').isNegative(), m('0.001').isNegative(), m('-0.001').isNegative()]).toEqual([false, false, true]);
  });

  it('comparisons at, below and above', () => {
    const [lo, hi] = [m('1.000'), m('1.001')];
    expect([lo.equals(m('1')), lo.equals(hi)]).toEqual([true, false]);
    expect([hi.greaterThan(lo), lo.greaterThan(hi), lo.greaterThan(m('1'))]).toEqual([true, false, false]);
    expect([hi.greaterThanOrEqual(lo), lo.greaterThanOrEqual(hi), lo.greaterThanOrEqual(m('1'))]).toEqual([true, false, true]);
    expect([lo.lessThan(hi), hi.lessThan(lo), lo.lessThan(m('1'))]).toEqual([true, false, false]);
    expect([lo.lessThanOrEqual(hi), hi.lessThanOrEqual(lo), lo.lessThanOrEqual(m('1'))]).toEqual([true, false, true]);
    expect([lo.compare(hi), hi.compare(lo), lo.compare(m('1'))]).toEqual([-1, 1, 0]);
    expect(lo.min(hi)).toBe(lo);
    expect(hi.min(lo)).toBe(lo);
    expect(lo.max(hi)).toBe(hi);
    expect(hi.max(lo)).toBe(hi);
  });

  it('text forms: always 3 decimals', () => {
    expect(m('7').toString()).toBe('7.000');
    expect(m('7').toJSON()).toBe('7.000');
    expect(`${m('0.5')}`).toBe('0.500');
  });

  it('parses decimal-like values (decimal.js, Prisma Decimal, Money itself)', () => {
    const x = m('3.2');
    expect(Money.parse(x)).toBe(x);
    expect(m(new Decimal('4.125')).toFixed()).toBe('4.125');
    expect(m({ toFixed: () => '9.5' }).toFixed()).toBe('9.500');
    expect(() => m({ toFixed: () => '9.5555' })).toThrow('amount must have at most 3 decimals');
    expect(m('0.123').toFixed()).toBe('0.123');
  });

  it('says why it refuses', () => {
    expect(() => m(Infinity)).toThrow('amount must be a finite number');
    expect(() => m(NaN)).toThrow('amount must be a finite number');
    expect(() => m(true)).toThrow('amount must be a decimal string or number');
    expect(() => m({})).toThrow('amount must be a decimal string or number');
    expect(() => m('1e3')).toThrow('amount must be a plain decimal (no exponent, no sign other than -)');
    expect(() => m('1.2345')).toThrow('amount must have at most 3 decimals');
    try {
      m('x');
    } catch (err) {
      expect(err).toBeInstanceOf(MoneyFormatError);
      expect((err as MoneyFormatError).input).toBe('x');
      expect((err as MoneyFormatError).name).toBe('MoneyFormatError');
    }
  });

  it('parseLenient rounds half up to 3 decimals and refuses what is not a plain decimal', () => {
    expect(Money.parseLenient('1.0004').toFixed()).toBe('1.000');
    expect(Money.parseLenient('1.0005').toFixed()).toBe('1.001');
    expect(Money.parseLenient('-1.0005').toFixed()).toBe('-1.001');
    expect(Money.parseLenient(' 2.5 ').toFixed()).toBe('2.500');
    expect(Money.parseLenient(0.1).toFixed()).toBe('0.100');
    for (const bad of ['1e3', 'abc', '', NaN, Infinity, null, {}]) expect(() => Money.parseLenient(bad)).toThrow('not a decimal');
  });
});
