import { Module } from '@nestjs/common';
import { Logger } from '@app/common';
import { LOGGER } from '@app/config';
import { Database, LedgerRepository } from '@app/persistence';
import { LedgerModule } from '@app/persistence/module';
import { SmsPartnerClient } from '@app/provider';
import { ProviderModule } from '@app/provider/module';
import { SubaccountsQueries } from './subaccounts.queries';
import { CreateSubaccountUseCase } from './use-cases/create-subaccount/create-subaccount.use-case';
import { ImportSubaccountsUseCase } from './use-cases/import-subaccounts/import-subaccounts.use-case';

/** Sub-accounts: created at the provider and opened in the ledger, imported, listed with their balances. */
@Module({
  imports: [LedgerModule, ProviderModule],
  providers: [
    { provide: SubaccountsQueries, inject: [Database], useFactory: (db: Database) => new SubaccountsQueries(db) },
    {
      provide: ImportSubaccountsUseCase,
      inject: [Database, LedgerRepository, SmsPartnerClient],
      useFactory: (db: Database, ledger: LedgerRepository, provider: SmsPartnerClient) => new ImportSubaccountsUseCase(db, ledger, provider),
    },
    {
      provide: CreateSubaccountUseCase,
      inject: [Database, LedgerRepository, SmsPartnerClient, LOGGER],
      useFactory: (db: Database, ledger: LedgerRepository, provider: SmsPartnerClient, logger: Logger) => new CreateSubaccountUseCase(db, ledger, provider, logger),
    },
  ],
  exports: [SubaccountsQueries, ImportSubaccountsUseCase, CreateSubaccountUseCase],
})
export class SubaccountsModule {}
