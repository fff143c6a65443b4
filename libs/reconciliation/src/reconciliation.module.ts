import { Module } from '@nestjs/common';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { Database, LedgerRepository } from '@app/persistence';
import { LedgerModule } from '@app/persistence/module';
import { SmsPartnerClient } from '@app/provider';
import { ProviderModule } from '@app/provider/module';
import { EvidenceQueries, ResolveTransferUseCase, SettleInDoubtUseCase } from '@app/transfers';
import { TransfersModule, spendBounds } from '@app/transfers/module';
import { AccountHistoryQueries } from './account-history.queries';
import { ReconciliationMetricsQueries } from './reconciliation-metrics.queries';
import { ReconciliationQueries } from './reconciliation.queries';
import { UsageReportQueries } from './usage-report.queries';
import { BookUsageUseCase } from './use-cases/book-usage/book-usage.use-case';
import { ResolveDriftUseCase } from './use-cases/resolve-drift/resolve-drift.use-case';
import { RunReconciliationUseCase } from './use-cases/run-reconciliation/run-reconciliation.use-case';

/**
 * Reconciliation: runs that read the provider and compare it with the ledger (where drift is
 * computed), drift findings and their resolution, usage booking, reports. A drifted run
 * reaches receivers as the `reconciliation.completed` webhook event (libs/webhooks, written by
 * the run itself); each drifted account is also a warn line of the run's logger.
 */
@Module({
  imports: [LedgerModule, ProviderModule, TransfersModule],
  providers: [
    { provide: ReconciliationQueries, inject: [Database], useFactory: (db: Database) => new ReconciliationQueries(db) },
    { provide: ReconciliationMetricsQueries, inject: [Database], useFactory: (db: Database) => new ReconciliationMetricsQueries(db) },
    { provide: UsageReportQueries, inject: [Database], useFactory: (db: Database) => new UsageReportQueries(db) },
    { provide: AccountHistoryQueries, inject: [Database], useFactory: (db: Database) => new AccountHistoryQueries(db) },
    { provide: ResolveDriftUseCase, inject: [Database, LedgerRepository], useFactory: (db: Database, ledger: LedgerRepository) => new ResolveDriftUseCase(db, ledger) },
    {
      provide: BookUsageUseCase,
      inject: [Database, LedgerRepository, EvidenceQueries, CONFIG, LOGGER],
      useFactory: (db: Database, ledger: LedgerRepository, evidence: EvidenceQueries, c: Config, logger: Logger) =>
        new BookUsageUseCase(db, ledger, evidence, { providerAccount: c.PROVIDER_ACCOUNT, enabled: c.USAGE_AUTO_BOOK, spend: spendBounds(c), logger }),
    },
    {
      provide: RunReconciliationUseCase,
      inject: [Database, LedgerRepository, SmsPartnerClient, ResolveTransferUseCase, SettleInDoubtUseCase, BookUsageUseCase, CONFIG, LOGGER],
      useFactory: (
        db: Database, ledger: LedgerRepository, provider: SmsPartnerClient, resolve: ResolveTransferUseCase, settle: SettleInDoubtUseCase, bookUsage: BookUsageUseCase,
        c: Config, logger: Logger,
      ) => new RunReconciliationUseCase(db, ledger, provider, resolve, {
        tolerance: c.RECONCILE_TOLERANCE,
        autoBookUsage: c.RECONCILE_AUTO_BOOK_USAGE,
        inDoubtGraceMs: c.RECONCILE_IN_DOUBT_GRACE_MS,
        settle: () => settle,
        bookUsage: c.USAGE_AUTO_BOOK ? () => bookUsage : undefined,
        logger,
      }),
    },
  ],
  exports: [ReconciliationQueries, ReconciliationMetricsQueries, UsageReportQueries, AccountHistoryQueries, ResolveDriftUseCase, BookUsageUseCase, RunReconciliationUseCase],
})
export class ReconciliationModule {}
