import { Database } from '@app/persistence';
import { WebhookQueue } from '../../webhook-queue';

/**
 * The outbox relay of webhook events: every pending event of this provider account is
 * (re-)enqueued. The job id is the event id, so an event whose delivery is queued, waiting
 * for its next retry or in flight is not enqueued twice; one lost with Redis is found again.
 * Every worker may run it.
 */
export class RelayWebhooksUseCase {
  constructor(private readonly db: Database, private readonly queue: WebhookQueue, private readonly providerAccount: string) {}

  async execute(batch = 500): Promise<number> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM outbox_events WHERE provider_account_id = $1 AND status = 'pending' ORDER BY seq LIMIT $2`,
      [this.providerAccount, batch],
    );
    await this.queue.enqueue(rows.map((r) => r.id));
    return rows.length;
  }
}
