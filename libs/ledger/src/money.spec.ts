import { Money, MoneyFormatError } from './money';

describe('Money', () => {
  it.each([
    ['12.5', '12.500'],
    [' 0.001 ', '0.001'],
    [100, '100.000'],
    [2869.2, '2869.200'],
    ['-3.25', '-3.250'],
  ])('parses %p as %s', (input, expected) => {
    expect(Money.parse(input).toFixed()).toBe(expected);
  });

  it.each(['1e3', '1.0001', 'NaN', '', 'abc', '+1', '1.', '.5', NaN, Infinity, null, undefined, {}, 1e21])(
    'refuses %p',
    (input) => {
      expect(() => Money.parse(input)).toThrow(MoneyFormatError);
    },
  );

  it('adds without binary floating point error', () => {
    expect(Money.parse('0.1').plus(Money.parse('0.2')).toFixed()).toBe('0.300');
    expect(Money.sum(Array.from({ length: 1000 }, () => Money.parse('0.001'))).toFixed()).toBe('1.000');
  });

  it('serialises to JSON as a 3-decimal string, never an exponent', () => {
    expect(JSON.stringify({ a: Money.parse('0.000') , b: Money.parse('123456789012345.678') })).toBe(
      '{"a":"0.000","b":"123456789012345.678"}',
    );
  });

  it('rounds lenient provider values half-up to 3 decimals', () => {
    expect(Money.parseLenient('1.0005').toFixed()).toBe('1.001');
    expect(Money.parseLenient(61.8).toFixed()).toBe('61.800');
  });
});
