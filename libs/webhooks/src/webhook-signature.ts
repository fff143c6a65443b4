import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers every webhook POST carries. */
export const WEBHOOK_HEADERS = {
  eventId: 'x-credit-ledger-event-id',
  timestamp: 'x-credit-ledger-timestamp',
  signature: 'x-credit-ledger-signature',
} as const;

/** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: binding the timestamp defeats replays of old bodies. */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does (docs/operations.md shows the same in a few lines): recompute the
 * signature over the raw body, compare in constant time, refuse timestamps too far from now.
 */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: string,
  opts: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
