import { Module } from '@nestjs/common';
import { Database } from '@app/persistence';
import { SubaccountCreationsRepository } from './subaccount-creations.repository';
import { SubaccountsQueries } from './subaccounts.queries';
import { SubaccountsRepository } from './subaccounts.repository';

/**
 * The sub-accounts' own tables (the ledger's copy of the provider's sub-accounts, creations,
 * the views with balances), apart from the use cases: recording a transfer asks this store
 * whether a sub-account exists (the transfers' SubaccountDirectory port), while importing
 * sub-accounts asks the transfers which are executing. Two modules keep that a line, not a loop.
 */
@Module({
  providers: [
    { provide: SubaccountsRepository, inject: [Database], useFactory: (db: Database) => new SubaccountsRepository(db) },
    { provide: SubaccountCreationsRepository, inject: [Database], useFactory: (db: Database) => new SubaccountCreationsRepository(db) },
    { provide: SubaccountsQueries, inject: [Database], useFactory: (db: Database) => new SubaccountsQueries(db) },
  ],
  exports: [SubaccountsRepository, SubaccountCreationsRepository, SubaccountsQueries],
})
export class SubaccountsStoreModule {}
