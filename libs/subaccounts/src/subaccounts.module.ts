import { Module } from '@nestjs/common';
import { Logger } from '@app/common';
import { LOGGER } from '@app/config';
import { Database, LedgerRepository, ObservationsRepository } from '@app/persistence';
import { LedgerModule } from '@app/persistence/module';
import { SmsPartnerClient } from '@app/provider';
import { ProviderModule } from '@app/provider/module';
import { TransfersRepository } from '@app/transfers';
import { TransfersModule } from '@app/transfers/module';
import { SubaccountCreationsRepository } from './subaccount-creations.repository';
import { SubaccountsRepository } from './subaccounts.repository';
import { SubaccountsStoreModule } from './subaccounts-store.module';
import { CreateSubaccountUseCase } from './use-cases/create-subaccount/create-subaccount.use-case';
import { ImportSubaccountsUseCase } from './use-cases/import-subaccounts/import-subaccounts.use-case';

/** Sub-accounts: created at the provider and opened in the ledger, imported, listed with their balances. */
@Module({
  imports: [LedgerModule, ProviderModule, SubaccountsStoreModule, TransfersModule],
  providers: [
    {
      provide: ImportSubaccountsUseCase,
      inject: [Database, LedgerRepository, SubaccountsRepository, TransfersRepository, ObservationsRepository, SmsPartnerClient],
      useFactory: (db: Database, ledger: LedgerRepository, subaccounts: SubaccountsRepository, transfers: TransfersRepository, observations: ObservationsRepository, provider: SmsPartnerClient) =>
        new ImportSubaccountsUseCase(db, ledger, subaccounts, transfers, observations, provider),
    },
    {
      provide: CreateSubaccountUseCase,
      inject: [Database, LedgerRepository, SubaccountsRepository, SubaccountCreationsRepository, SmsPartnerClient, LOGGER],
      useFactory: (db: Database, ledger: LedgerRepository, subaccounts: SubaccountsRepository, creations: SubaccountCreationsRepository, provider: SmsPartnerClient, logger: Logger) =>
        new CreateSubaccountUseCase(db, ledger, subaccounts, creations, provider, logger),
    },
  ],
  exports: [SubaccountsStoreModule, ImportSubaccountsUseCase, CreateSubaccountUseCase],
})
export class SubaccountsModule {}
