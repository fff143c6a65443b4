import Decimal from 'decimal.js';
import { Money, MoneyFormatError } from '@app/ledger';

/** Spending rules (spending.ts): what one account does, as given and as validated. */

/** What one account does. `ratePerSecond` (€/s) or `smsPerMinute` (× `pricePerSms`). */
export interface SpendingRuleInput {
  ratePerSecond?: string | number;
  smsPerMinute?: string | number;
  /** Price of one SMS (default 0.045). */
  pricePerSms?: string | number;
  /** Main account only: credit bought, `amount` every `everySeconds` on average. */
  purchase?: { amount: string | number; everySeconds: number };
  /** `isBuyer` sub-accounts only: credit the sub-account buys itself. */
  buyer?: { amount: string | number; everySeconds: number };
}

/** A validated rule, in its JSON form (decimals as strings). */
export interface SpendingRule {
  /** € per second (up to 6 decimals). */
  ratePerSecond: string;
  pricePerSms: string;
  /** Given when the rule was set as SMS per minute. */
  smsPerMinute?: string;
  purchase?: { amount: string; everySeconds: number };
  buyer?: { amount: string; everySeconds: number };
}

export class SpendingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpendingError';
  }
}

export const DEFAULT_PRICE_PER_SMS = '0.045';

export interface SpendingTargetInput extends SpendingRuleInput {
  token?: string;
  apiKey?: string;
}

const RULE_KEYS = new Set(['token', 'apiKey', 'ratePerSecond', 'smsPerMinute', 'pricePerSms', 'purchase', 'buyer']);

/** Validates a rule; throws SpendingError with a clear message. */
export function normalizeRule(input: SpendingRuleInput, kind: 'main' | 'subaccount'): SpendingRule {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new SpendingError('a spending rule must be an object');
  const unknown = Object.keys(input).filter((k) => !RULE_KEYS.has(k));
  if (unknown.length) throw new SpendingError(`unknown spending field(s): ${unknown.join(', ')}`);
  const price = moneyField(input.pricePerSms ?? DEFAULT_PRICE_PER_SMS, 'pricePerSms');
  if (!price.isPositive()) throw new SpendingError('pricePerSms must be greater than 0');
  if (input.ratePerSecond !== undefined && input.smsPerMinute !== undefined) throw new SpendingError('give ratePerSecond or smsPerMinute, not both');
  let rate: Decimal;
  let smsPerMinute: string | undefined;
  if (input.smsPerMinute !== undefined) {
    const spm = decimalField(input.smsPerMinute, 'smsPerMinute', 3);
    smsPerMinute = spm.toFixed();
    rate = spm.times(price.toFixed()).dividedBy(60).toDecimalPlaces(6, Decimal.ROUND_HALF_UP);
  } else rate = decimalField(input.ratePerSecond ?? '0', 'ratePerSecond', 6);
  const rule: SpendingRule = { ratePerSecond: rate.toFixed(), pricePerSms: price.toFixed(), ...(smsPerMinute !== undefined ? { smsPerMinute } : {}) };
  if (input.purchase !== undefined) {
    if (kind !== 'main') throw new SpendingError('purchase is for a main account');
    rule.purchase = buyField(input.purchase, 'purchase');
  }
  if (input.buyer !== undefined) {
    if (kind !== 'subaccount') throw new SpendingError('buyer is for an isBuyer sub-account');
    rule.buyer = buyField(input.buyer, 'buyer');
  }
  return rule;
}

function buyField(v: unknown, what: string): { amount: string; everySeconds: number } {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SpendingError(`${what} must be {amount, everySeconds}`);
  const b = v as { amount?: unknown; everySeconds?: unknown };
  const amount = moneyField(b.amount, `${what}.amount`);
  if (!amount.isPositive()) throw new SpendingError(`${what}.amount must be greater than 0`);
  if (typeof b.everySeconds !== 'number' || !Number.isFinite(b.everySeconds) || b.everySeconds <= 0) throw new SpendingError(`${what}.everySeconds must be a number of seconds > 0`);
  return { amount: amount.toFixed(), everySeconds: b.everySeconds };
}

function moneyField(v: unknown, what: string): Money {
  try {
    const m = Money.parse(v);
    if (m.isNegative()) throw new SpendingError(`${what} must not be negative`);
    return m;
  } catch (err) {
    if (err instanceof MoneyFormatError) throw new SpendingError(`${what}: ${err.message}`);
    throw err;
  }
}

function decimalField(v: unknown, what: string, maxDecimals: number): Decimal {
  const text = typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'string' ? v.trim() : '';
  if (!/^\d+(\.\d+)?$/.test(text)) throw new SpendingError(`${what} must be a non-negative plain decimal`);
  const d = new Decimal(text);
  if (d.decimalPlaces() > maxDecimals) throw new SpendingError(`${what} must have at most ${maxDecimals} decimals`);
  return d;
}
