import { Logger, scrubText } from '@app/common';
import { OutboxEventsRepository, webhookBody } from '../../outbox-events.repository';
import { signWebhook, WEBHOOK_HEADERS } from '../../webhook-signature';

export interface DeliverWebhookOptions {
  url: string;
  secret: string;
  providerAccount: string;
  timeoutMs?: number;
  logger?: Logger;
}

export type DeliveryResult =
  | { kind: 'delivered'; status: number; attempts: number }
  | { kind: 'skipped'; why: 'not_found' | 'not_pending' };

/** A refused or failed attempt: thrown so that the queue retries with backoff. */
export class WebhookDeliveryError extends Error {
  constructor(message: string, readonly statusCode: number | null, readonly final: boolean) {
    super(message);
    this.name = 'WebhookDeliveryError';
  }
}

/**
 * One delivery attempt of one event: POST the signed body, then record the attempt (status
 * code or error) on the event row. A 2xx marks it delivered; anything else throws so the queue
 * retries, and the last allowed attempt marks it failed. An event that is not pending (already
 * delivered by a duplicate job) is not sent again.
 */
export class DeliverWebhookUseCase {
  constructor(private readonly events: OutboxEventsRepository, private readonly opts: DeliverWebhookOptions) {}

  async execute(eventId: string, lastAttempt: boolean): Promise<DeliveryResult> {
    const row = await this.events.get(this.opts.providerAccount, eventId);
    if (!row) return { kind: 'skipped', why: 'not_found' };
    if (row.status !== 'pending') return { kind: 'skipped', why: 'not_pending' };

    const body = webhookBody(row);
    const timestamp = Math.floor(Date.now() / 1000);
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(this.opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'credit-ledger-webhooks/1',
          [WEBHOOK_HEADERS.eventId]: row.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(this.opts.secret, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      statusCode = res.status;
      if (!res.ok) error = `HTTP ${res.status}: ${(await res.text().catch(() => '')).slice(0, 300)}`;
      else await res.body?.cancel().catch(() => undefined);
    } catch (err) {
      error = (err as Error).name === 'TimeoutError' ? 'timeout' : `${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause: Error }).cause.message}` : ''}`;
    }

    const delivered = error === null;
    const updated = await this.events.recordAttempt(row.id, { statusCode, error: error === null ? null : scrubText(error).slice(0, 1000), lastAttempt });
    if (delivered) return { kind: 'delivered', status: statusCode!, attempts: updated?.attempts ?? row.attempts + 1 };
    this.opts.logger?.warn({ eventId: row.id, event: row.type, statusCode, error, attempts: updated?.attempts, final: lastAttempt }, lastAttempt ? 'webhook delivery failed for good' : 'webhook delivery failed; will retry');
    throw new WebhookDeliveryError(error!, statusCode, lastAttempt);
  }
}
