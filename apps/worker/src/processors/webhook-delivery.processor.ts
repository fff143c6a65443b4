import { BeforeApplicationShutdown, Inject, OnApplicationBootstrap } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Job } from 'bullmq';
import { DeliverWebhookJob, logContext, Logger, QUEUES, WEBHOOK_JOBS } from '@app/common';
import { LOGGER } from '@app/config';
import { DeliverWebhookUseCase } from '@app/webhooks';

/**
 * Thin host: one delivery job → one attempt of the deliver-webhook use case. A failed attempt
 * throws; BullMQ retries it with exponential backoff (attempts and delay set when enqueued).
 * Registered only when WEBHOOK_URL is set.
 */
@Processor(QUEUES.webhooks, { concurrency: 4 })
export class WebhookDeliveryProcessor extends WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(LOGGER) private readonly logger: Logger, @Inject(DeliverWebhookUseCase) private readonly deliverWebhook: DeliverWebhookUseCase | null) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.on('error', (err) => this.logger.warn({ err: err.message }, 'webhook queue connection error'));
  }

  /** Stops taking deliveries and waits for the ones under way before the pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker.close();
  }

  async process(job: Job<DeliverWebhookJob>): Promise<unknown> {
    if (job.name !== WEBHOOK_JOBS.deliverWebhook) throw new Error(`no handler for job ${job.name}`);
    const deliver = this.deliverWebhook;
    if (!deliver) throw new Error('WEBHOOK_URL is not set in this worker');
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return logContext.run({ jobId: job.id, queue: QUEUES.webhooks, job: job.name }, () => deliver.execute(job.data.eventId, lastAttempt));
  }
}
