/**
 * What the rule reads of a provider call's outcome (libs/provider's ProviderOutcome has this
 * shape and more): the domain names its own input and depends on no I/O library.
 */
export type CallOutcome =
  | { kind: 'ok' }
  | { kind: 'rejected'; reason: string }
  | { kind: 'not_sent'; cause: string; retryAfterMs?: number }
  | { kind: 'unknown'; cause: string };

/** What the worker does with a provider outcome: the product's in-doubt rule, as a pure function. */
export type Decision =
  | { next: 'posted' }
  | { next: 'failed'; reason: string }
  | { next: 'retry'; delayMs: number; reason: string }
  | { next: 'in_doubt'; reason: string };

export interface RetryPolicy { maxAttempts: number; baseDelayMs: number; maxDelayMs?: number }

export function decide(outcome: CallOutcome, attempt: number, policy: RetryPolicy): Decision {
  switch (outcome.kind) {
    case 'ok':
      return { next: 'posted' };
    case 'rejected':
      // A definitive answer: the provider did not move the money.
      return { next: 'failed', reason: `provider_rejected:${outcome.reason}` };
    case 'not_sent':
      // Provably never applied: safe to try again, a bounded number of times.
      if (attempt >= policy.maxAttempts) return { next: 'failed', reason: 'provider_unreachable' };
      return { next: 'retry', delayMs: retryDelay(attempt, policy, outcome.retryAfterMs), reason: outcome.cause };
    case 'unknown':
      // It may have been applied: never retried blindly.
      return { next: 'in_doubt', reason: outcome.cause };
  }
}

/** Exponential backoff with full jitter; a provider's Retry-After wins when longer. */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number, random = Math.random): number {
  const cap = policy.maxDelayMs ?? 60_000;
  const exp = Math.min(cap, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exp / 2 + random() * (exp / 2));
  return Math.max(jittered, retryAfterMs ?? 0);
}
