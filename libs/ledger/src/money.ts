import Decimal from 'decimal.js';

/** Money is EUR with exactly 3 decimals (provider balances are "10225.119"). */
const SCALE = 3;
const PLAIN_DECIMAL = /^-?\d+(\.\d+)?$/;

export class MoneyFormatError extends Error {
  constructor(readonly input: unknown, why: string) {
    super(why);
    this.name = 'MoneyFormatError';
  }
}

/**
 * Immutable decimal amount. Never built from arithmetic on JS numbers: a JS number input is
 * first printed with String() (shortest round-trip form) and parsed as text.
 */
export class Money {
  private constructor(private readonly value: Decimal) {}

  static readonly ZERO = new Money(new Decimal(0));

  /** Parses a provider or client amount. Refuses NaN, Infinity, exponents and more than 3 decimals. */
  static parse(input: unknown): Money {
    let text: string;
    if (typeof input === 'string') text = input.trim();
    else if (typeof input === 'number') {
      if (!Number.isFinite(input)) throw new MoneyFormatError(input, 'amount must be a finite number');
      text = String(input);
    } else if (input instanceof Money) return input;
    else if (Decimal.isDecimal(input)) text = (input as Decimal).toFixed();
    else if (input !== null && typeof input === 'object' && typeof (input as { toFixed?: unknown }).toFixed === 'function') {
      // Prisma's Decimal (its own decimal.js copy) and other decimal-like values.
      text = (input as { toFixed(): string }).toFixed();
    } else throw new MoneyFormatError(input, 'amount must be a decimal string or number');
    if (!PLAIN_DECIMAL.test(text)) throw new MoneyFormatError(input, 'amount must be a plain decimal (no exponent, no sign other than -)');
    const value = new Decimal(text);
    if (value.decimalPlaces() > SCALE) throw new MoneyFormatError(input, `amount must have at most ${SCALE} decimals`);
    return new Money(value);
  }

  /** Parses a provider value that may carry more precision (never seen, but never trusted): rounds half-up to 3 decimals. */
  static parseLenient(input: unknown): Money {
    if (typeof input === 'number' && Number.isFinite(input)) input = String(input);
    if (typeof input !== 'string' || !PLAIN_DECIMAL.test(input.trim())) throw new MoneyFormatError(input, 'not a decimal');
    return new Money(new Decimal(input.trim()).toDecimalPlaces(SCALE, Decimal.ROUND_HALF_UP));
  }

  static sum(values: Iterable<Money>): Money {
    let total = new Decimal(0);
    for (const v of values) total = total.plus(v.value);
    return new Money(total);
  }

  plus(other: Money): Money { return new Money(this.value.plus(other.value)); }
  minus(other: Money): Money { return new Money(this.value.minus(other.value)); }
  negated(): Money { return new Money(this.value.negated()); }
  abs(): Money { return new Money(this.value.abs()); }
  isZero(): boolean { return this.value.isZero(); }
  isPositive(): boolean { return this.value.greaterThan(0); }
  isNegative(): boolean { return this.value.lessThan(0); }
  equals(other: Money): boolean { return this.value.equals(other.value); }
  greaterThan(other: Money): boolean { return this.value.greaterThan(other.value); }
  greaterThanOrEqual(other: Money): boolean { return this.value.greaterThanOrEqualTo(other.value); }
  lessThan(other: Money): boolean { return this.value.lessThan(other.value); }
  lessThanOrEqual(other: Money): boolean { return this.value.lessThanOrEqualTo(other.value); }
  compare(other: Money): number { return this.value.comparedTo(other.value); }
  min(other: Money): Money { return this.lessThan(other) ? this : other; }
  max(other: Money): Money { return this.greaterThan(other) ? this : other; }

  /** The wire and database form: "12.500". */
  toFixed(): string { return this.value.toFixed(SCALE); }
  toString(): string { return this.toFixed(); }
  toJSON(): string { return this.toFixed(); }
}
