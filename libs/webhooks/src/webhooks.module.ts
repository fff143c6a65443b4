import { Module, OnApplicationShutdown } from '@nestjs/common';
import { Logger } from '@app/common';
import { Queues } from '@app/common/module';
import { Config, CONFIG, LOGGER } from '@app/config';
import { Database } from '@app/persistence';
import { OutboxEventsRepository } from './outbox-events.repository';
import { DeliverWebhookUseCase } from './use-cases/deliver-webhook/deliver-webhook.use-case';
import { RelayWebhooksUseCase } from './use-cases/relay-webhooks/relay-webhooks.use-case';
import { BullWebhookQueue } from './webhook-queue';

/**
 * Webhook events: the outbox (written by the features in their own transactions), the relay
 * to the delivery queue, the signed delivery, the delivery log. `DeliverWebhookUseCase` is
 * `null` without WEBHOOK_URL (the configuration then also has WEBHOOK_SECRET): events are
 * still recorded, and delivered once a worker has a URL.
 */
@Module({
  providers: [
    {
      provide: BullWebhookQueue,
      inject: [Queues, CONFIG],
      useFactory: (q: Queues, c: Config) => new BullWebhookQueue(q.connection, q.prefix, { attempts: c.WEBHOOK_MAX_ATTEMPTS, baseDelayMs: c.WEBHOOK_RETRY_BASE_MS }),
    },
    { provide: OutboxEventsRepository, inject: [Database], useFactory: (db: Database) => new OutboxEventsRepository(db) },
    {
      provide: RelayWebhooksUseCase,
      inject: [OutboxEventsRepository, BullWebhookQueue, CONFIG],
      useFactory: (events: OutboxEventsRepository, queue: BullWebhookQueue, c: Config) => new RelayWebhooksUseCase(events, queue, c.PROVIDER_ACCOUNT),
    },
    {
      provide: DeliverWebhookUseCase,
      inject: [OutboxEventsRepository, CONFIG, LOGGER],
      useFactory: (events: OutboxEventsRepository, c: Config, logger: Logger) => (c.WEBHOOK_URL && c.WEBHOOK_SECRET
        ? new DeliverWebhookUseCase(events, { url: c.WEBHOOK_URL, secret: c.WEBHOOK_SECRET, providerAccount: c.PROVIDER_ACCOUNT, logger })
        : null),
    },
  ],
  exports: [BullWebhookQueue, OutboxEventsRepository, RelayWebhooksUseCase, DeliverWebhookUseCase],
})
export class WebhooksModule implements OnApplicationShutdown {
  constructor(private readonly queue: BullWebhookQueue) {}

  /** Before the shared connection closes (QueueModule, global, closes last). */
  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}
