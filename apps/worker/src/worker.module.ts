import { DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { ScheduleModule } from '@nestjs/schedule';
import { QUEUES, redisConnection } from '@app/common';
import { QueueModule } from '@app/common/module';
import { ProcessContext } from '@app/config';
import { ConfigModule } from '@app/config/module';
import { LedgerModule, PersistenceModule } from '@app/persistence/module';
import { ProviderModule } from '@app/provider/module';
import { ReconciliationModule } from '@app/reconciliation/module';
import { TopupsModule } from '@app/topups/module';
import { TransfersModule } from '@app/transfers/module';
import { WebhooksModule } from '@app/webhooks/module';
import { ExecuteTransferProcessor } from './processors/execute-transfer.processor';
import { TransferSweeperCron } from './processors/transfer-sweeper.cron';
import { ReconciliationCron } from './processors/reconciliation.cron';
import { TopupsCron } from './processors/topups.cron';
import { InDoubtEvidenceCron } from './processors/in-doubt-evidence.cron';
import { WebhookDeliveryProcessor } from './processors/webhook-delivery.processor';
import { WebhookRelayCron } from './processors/webhook-relay.cron';
import { JournalDigestCron } from './processors/journal-digest.cron';

/**
 * The worker process: BullMQ processors and schedules over the same feature modules as the
 * API (libs/*), each processor injecting the use case it runs.
 */
@Module({})
export class WorkerModule {
  static forRoot(ctx: ProcessContext): DynamicModule {
    const { config } = ctx;
    const connection = redisConnection(config.REDIS_URL, true);
    connection.on('error', () => undefined);
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(ctx),
        PersistenceModule.forRoot(),
        QueueModule.forRoot({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX }),
        ScheduleModule.forRoot(),
        BullModule.forRoot({ connection, prefix: config.QUEUE_PREFIX }),
        BullModule.registerQueue({ name: QUEUES.transfers }),
        BullModule.registerQueue({ name: QUEUES.webhooks }),
        LedgerModule, ProviderModule, TransfersModule, ReconciliationModule, TopupsModule, WebhooksModule,
      ],
      providers: [
        ExecuteTransferProcessor, TransferSweeperCron, ReconciliationCron, TopupsCron, InDoubtEvidenceCron,
        // Events are always recorded; they are delivered only by workers that have a WEBHOOK_URL.
        ...(config.WEBHOOK_URL && config.WEBHOOK_SECRET ? [WebhookDeliveryProcessor, WebhookRelayCron] : []),
        // Digests are published only with a JOURNAL_SIGNING_KEY.
        ...(config.JOURNAL_SIGNING_KEY ? [JournalDigestCron] : []),
      ],
    };
  }
}
