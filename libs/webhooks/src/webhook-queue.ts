import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { DeliverWebhookJob, deliverWebhookJobId, openQueue, QUEUES, WEBHOOK_JOBS } from '@app/common';

/** The port through which events reach the delivery processor. */
export interface WebhookQueue {
  enqueue(eventIds: string[]): Promise<void>;
}

export class BullWebhookQueue implements WebhookQueue {
  readonly queue: Queue<DeliverWebhookJob>;

  constructor(connection: IORedis, prefix: string, private readonly retry: { attempts: number; baseDelayMs: number }) {
    this.queue = openQueue<DeliverWebhookJob>(QUEUES.webhooks, connection, prefix);
  }

  async enqueue(eventIds: string[]): Promise<void> {
    if (!eventIds.length) return;
    await this.queue.addBulk(eventIds.map((eventId) => ({
      name: WEBHOOK_JOBS.deliverWebhook,
      data: { eventId },
      opts: {
        jobId: deliverWebhookJobId(eventId),
        attempts: this.retry.attempts,
        backoff: { type: 'exponential', delay: this.retry.baseDelayMs },
        // The delivery log in Postgres is the record; a finished job only frees its id.
        removeOnComplete: true,
        removeOnFail: true,
      },
    })));
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
