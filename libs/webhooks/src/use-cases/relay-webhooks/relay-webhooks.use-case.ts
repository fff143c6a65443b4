import { OutboxEventsRepository } from '../../outbox-events.repository';
import { WebhookQueue } from '../../webhook-queue';

/**
 * The outbox relay of webhook events: every pending event of this provider account is
 * (re-)enqueued. The job id is the event id, so an event whose delivery is queued, waiting
 * for its next retry or in flight is not enqueued twice; one lost with Redis is found again.
 * Every worker may run it.
 */
export class RelayWebhooksUseCase {
  constructor(private readonly events: OutboxEventsRepository, private readonly queue: WebhookQueue, private readonly providerAccount: string) {}

  async execute(batch = 500): Promise<number> {
    const ids = await this.events.pendingIds(this.providerAccount, batch);
    await this.queue.enqueue(ids);
    return ids.length;
  }
}
