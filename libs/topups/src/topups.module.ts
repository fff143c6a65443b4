import { Module } from '@nestjs/common';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { Database } from '@app/persistence';
import { SmsPartnerClient } from '@app/provider';
import { ProviderModule } from '@app/provider/module';
import { SubaccountsRepository } from '@app/subaccounts';
import { SubaccountsStoreModule } from '@app/subaccounts/store';
import { RecordTransferUseCase, TransfersRepository } from '@app/transfers';
import { TransfersModule } from '@app/transfers/module';
import { TopupsRepository } from './topups.repository';
import { CreateTopupPolicyUseCase } from './use-cases/create-topup-policy/create-topup-policy.use-case';
import { DeleteTopupPolicyUseCase } from './use-cases/delete-topup-policy/delete-topup-policy.use-case';
import { PreviewTopupPolicyUseCase } from './use-cases/preview-topup-policy/preview-topup-policy.use-case';
import { RunDueTopupsUseCase } from './use-cases/run-due-topups/run-due-topups.use-case';
import { UpdateTopupPolicyUseCase } from './use-cases/update-topup-policy/update-topup-policy.use-case';

/** Top-ups read the wall clock here; tests inject a fake one into the same use cases. */
const clock = () => new Date();

/** Top-up policies (create, update, delete, preview) and the scheduled runs that record their transfers. */
@Module({
  imports: [ProviderModule, TransfersModule, SubaccountsStoreModule],
  providers: [
    { provide: TopupsRepository, inject: [Database, TransfersRepository], useFactory: (db: Database, transfers: TransfersRepository) => new TopupsRepository(db, transfers) },
    {
      provide: CreateTopupPolicyUseCase,
      inject: [Database, TopupsRepository, SubaccountsRepository, CONFIG],
      useFactory: (db: Database, topups: TopupsRepository, subaccounts: SubaccountsRepository, c: Config) =>
        new CreateTopupPolicyUseCase(db, topups, subaccounts, { now: clock, defaultTimezone: c.TOPUP_TIMEZONE }),
    },
    { provide: UpdateTopupPolicyUseCase, inject: [Database, TopupsRepository], useFactory: (db: Database, topups: TopupsRepository) => new UpdateTopupPolicyUseCase(db, topups, { now: clock }) },
    { provide: DeleteTopupPolicyUseCase, inject: [Database, TopupsRepository], useFactory: (db: Database, topups: TopupsRepository) => new DeleteTopupPolicyUseCase(db, topups, { now: clock }) },
    {
      provide: PreviewTopupPolicyUseCase,
      inject: [Database, TopupsRepository, TransfersRepository, SmsPartnerClient],
      useFactory: (db: Database, topups: TopupsRepository, transfers: TransfersRepository, provider: SmsPartnerClient) =>
        new PreviewTopupPolicyUseCase(db, topups, transfers, provider, { now: clock }),
    },
    {
      provide: RunDueTopupsUseCase,
      inject: [Database, TopupsRepository, TransfersRepository, RecordTransferUseCase, SmsPartnerClient, LOGGER],
      useFactory: (db: Database, topups: TopupsRepository, transfers: TransfersRepository, record: RecordTransferUseCase, provider: SmsPartnerClient, logger: Logger) =>
        new RunDueTopupsUseCase(db, topups, transfers, record, provider, { now: clock, logger }),
    },
  ],
  exports: [TopupsRepository, CreateTopupPolicyUseCase, UpdateTopupPolicyUseCase, DeleteTopupPolicyUseCase, PreviewTopupPolicyUseCase, RunDueTopupsUseCase],
})
export class TopupsModule {}
