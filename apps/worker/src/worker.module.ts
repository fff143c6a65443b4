import { DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { ScheduleModule } from '@nestjs/schedule';
import { QUEUES } from '@app/common';
import { redisConnection } from '@app/transfers';
import { Services, SERVICES } from '@app/services';
import { TransferExecutionProcessor } from './processors/transfer-execution.processor';
import { TransferSweeperCron } from './processors/transfer-sweeper.cron';
import { ReconciliationCron } from './processors/reconciliation.cron';
import { TopupsCron } from './processors/topups.cron';
import { InDoubtEvidenceCron } from './processors/in-doubt-evidence.cron';
import { WebhookDeliveryProcessor } from './processors/webhook-delivery.processor';
import { WebhookRelayCron } from './processors/webhook-relay.cron';
import { JournalDigestCron } from './processors/journal-digest.cron';

/** The worker process: BullMQ processors and schedules over the same use cases as the API. */
@Module({})
export class WorkerModule {
  static with(services: Services): DynamicModule {
    const connection = redisConnection(services.config.REDIS_URL, true);
    connection.on('error', () => undefined);
    return {
      module: WorkerModule,
      imports: [
        ScheduleModule.forRoot(),
        BullModule.forRoot({ connection, prefix: services.config.QUEUE_PREFIX }),
        BullModule.registerQueue({ name: QUEUES.transfers }),
        BullModule.registerQueue({ name: QUEUES.webhooks }),
      ],
      providers: [
        { provide: SERVICES, useValue: services }, TransferExecutionProcessor, TransferSweeperCron, ReconciliationCron, TopupsCron, InDoubtEvidenceCron,
        // Events are always recorded; they are delivered only by workers that have a WEBHOOK_URL.
        ...(services.deliverWebhook ? [WebhookDeliveryProcessor, WebhookRelayCron] : []),
        ...(services.journalDigests.enabled ? [JournalDigestCron] : []),
      ],
    };
  }
}
