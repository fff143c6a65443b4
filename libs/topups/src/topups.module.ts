import { Module } from '@nestjs/common';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { Database } from '@app/persistence';
import { SmsPartnerClient } from '@app/provider';
import { ProviderModule } from '@app/provider/module';
import { RecordTransferUseCase } from '@app/transfers';
import { TransfersModule } from '@app/transfers/module';
import { TopupsQueries } from './topups.queries';
import { CreateTopupPolicyUseCase } from './use-cases/create-topup-policy/create-topup-policy.use-case';
import { DeleteTopupPolicyUseCase } from './use-cases/delete-topup-policy/delete-topup-policy.use-case';
import { PreviewTopupPolicyUseCase } from './use-cases/preview-topup-policy/preview-topup-policy.use-case';
import { RunDueTopupsUseCase } from './use-cases/run-due-topups/run-due-topups.use-case';
import { UpdateTopupPolicyUseCase } from './use-cases/update-topup-policy/update-topup-policy.use-case';

/** Top-ups read the wall clock here; tests inject a fake one into the same use cases. */
const clock = () => new Date();

/** Top-up policies (create, update, delete, preview) and the scheduled runs that record their transfers. */
@Module({
  imports: [ProviderModule, TransfersModule],
  providers: [
    { provide: TopupsQueries, inject: [Database], useFactory: (db: Database) => new TopupsQueries(db) },
    {
      provide: CreateTopupPolicyUseCase,
      inject: [Database, CONFIG],
      useFactory: (db: Database, c: Config) => new CreateTopupPolicyUseCase(db, { now: clock, defaultTimezone: c.TOPUP_TIMEZONE }),
    },
    { provide: UpdateTopupPolicyUseCase, inject: [Database], useFactory: (db: Database) => new UpdateTopupPolicyUseCase(db, { now: clock }) },
    { provide: DeleteTopupPolicyUseCase, inject: [Database], useFactory: (db: Database) => new DeleteTopupPolicyUseCase(db, { now: clock }) },
    {
      provide: PreviewTopupPolicyUseCase,
      inject: [Database, SmsPartnerClient],
      useFactory: (db: Database, provider: SmsPartnerClient) => new PreviewTopupPolicyUseCase(db, provider, { now: clock }),
    },
    {
      provide: RunDueTopupsUseCase,
      inject: [Database, RecordTransferUseCase, SmsPartnerClient, LOGGER],
      useFactory: (db: Database, record: RecordTransferUseCase, provider: SmsPartnerClient, logger: Logger) => new RunDueTopupsUseCase(db, record, provider, { now: clock, logger }),
    },
  ],
  exports: [TopupsQueries, CreateTopupPolicyUseCase, UpdateTopupPolicyUseCase, DeleteTopupPolicyUseCase, PreviewTopupPolicyUseCase, RunDueTopupsUseCase],
})
export class TopupsModule {}
