import { ProviderOutcome } from '@app/provider';
import { decide, retryDelay, RetryPolicy } from './outcome';

/** The product's in-doubt rule, without a database: what each provider outcome leads to. */
const policy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 1_000 };
const ok: ProviderOutcome<unknown> = { kind: 'ok', body: {}, raw: {}, httpStatus: 200, latencyMs: 5 };
const rejected: ProviderOutcome<unknown> = { kind: 'rejected', code: 8, reason: 'insufficient_credit', message: 'no credit', raw: {}, httpStatus: 200, latencyMs: 5 };
const notSent = (retryAfterMs?: number): ProviderOutcome<unknown> => ({ kind: 'not_sent', cause: 'HTTP 429 Too Many Requests', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), latencyMs: 1 });
const unknown: ProviderOutcome<unknown> = { kind: 'unknown', cause: 'timeout after 10000ms (may have been applied)', latencyMs: 10_000 };

describe('decide: what the worker does with a provider outcome', () => {
  it('ok is posted, whatever the attempt', () => {
    expect(decide(ok, 1, policy)).toEqual({ next: 'posted' });
    expect(decide(ok, 99, policy)).toEqual({ next: 'posted' });
  });

  it('a rejection fails at once with the reason, never retried (even on the first attempt)', () => {
    expect(decide(rejected, 1, policy)).toEqual({ next: 'failed', reason: 'provider_rejected:insufficient_credit' });
  });

  it('an unknown outcome is in doubt with its cause, never retried, even with attempts left', () => {
    expect(decide(unknown, 1, policy)).toEqual({ next: 'in_doubt', reason: 'timeout after 10000ms (may have been applied)' });
    expect(decide(unknown, 3, policy)).toEqual({ next: 'in_doubt', reason: 'timeout after 10000ms (may have been applied)' });
  });

  it('not sent is retried while attempts remain, with the cause; at maxAttempts it fails provider_unreachable', () => {
    const first = decide(notSent(), 1, policy);
    expect(first).toMatchObject({ next: 'retry', reason: 'HTTP 429 Too Many Requests' });
    expect(decide(notSent(), 2, policy).next).toBe('retry');
    expect(decide(notSent(), 3, policy)).toEqual({ next: 'failed', reason: 'provider_unreachable' });
    expect(decide(notSent(), 4, policy)).toEqual({ next: 'failed', reason: 'provider_unreachable' });
    expect(decide(notSent(), 1, { ...policy, maxAttempts: 1 })).toEqual({ next: 'failed', reason: 'provider_unreachable' });
  });

  it('a retry waits at least what the provider asked (Retry-After)', () => {
    const d = decide(notSent(45_000), 1, policy);
    expect(d).toEqual({ next: 'retry', delayMs: 45_000, reason: 'HTTP 429 Too Many Requests' });
  });

  it('a retry without Retry-After waits the backoff: between half and all of base * 2^(attempt-1)', () => {
    for (let i = 0; i < 50; i++) {
      const d = decide(notSent(), 2, policy);
      if (d.next !== 'retry') throw new Error('expected a retry');
      expect(d.delayMs).toBeGreaterThanOrEqual(1_000);
      expect(d.delayMs).toBeLessThanOrEqual(2_000);
    }
  });
});

describe('retryDelay: exponential backoff with full jitter, Retry-After wins when longer', () => {
  const lowest = () => 0;
  const highest = () => 1;
  const middle = () => 0.5;

  it('doubles from the base delay per attempt: half of it with the lowest draw, all of it with the highest', () => {
    expect([1, 2, 3, 4].map((a) => retryDelay(a, policy, undefined, highest))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([1, 2, 3, 4].map((a) => retryDelay(a, policy, undefined, lowest))).toEqual([500, 1_000, 2_000, 4_000]);
    expect(retryDelay(3, policy, undefined, middle)).toBe(3_000);
  });

  it('attempt 0 or below counts as the first', () => {
    expect(retryDelay(0, policy, undefined, highest)).toBe(1_000);
    expect(retryDelay(-3, policy, undefined, highest)).toBe(1_000);
  });

  it('is capped at maxDelayMs (default 60 s) before jitter', () => {
    expect(retryDelay(20, policy, undefined, highest)).toBe(60_000);
    expect(retryDelay(20, policy, undefined, lowest)).toBe(30_000);
    expect(retryDelay(7, policy, undefined, highest)).toBe(60_000); // 64 s capped
    expect(retryDelay(6, policy, undefined, highest)).toBe(32_000);
    expect(retryDelay(5, { ...policy, maxDelayMs: 5_000 }, undefined, highest)).toBe(5_000);
    expect(retryDelay(5, { ...policy, maxDelayMs: 5_000 }, undefined, lowest)).toBe(2_500);
  });

  it('rounds to whole milliseconds', () => {
    expect(retryDelay(1, { maxAttempts: 3, baseDelayMs: 3 }, undefined, () => 0.5)).toBe(2);
    expect(Number.isInteger(retryDelay(2, { maxAttempts: 3, baseDelayMs: 333 }, undefined, () => 0.123))).toBe(true);
  });

  it('Retry-After replaces a shorter backoff, never a longer one', () => {
    expect(retryDelay(1, policy, 10_000, highest)).toBe(10_000);
    expect(retryDelay(4, policy, 100, highest)).toBe(8_000);
    expect(retryDelay(1, policy, 0, lowest)).toBe(500);
  });
});
