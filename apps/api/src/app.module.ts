import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { QueueModule } from '@app/common/module';
import { ProcessContext } from '@app/config';
import { ConfigModule } from '@app/config/module';
import { PersistenceModule } from '@app/persistence/module';
import { AuthGuard } from './core/auth.guard';
import { ErrorFilter } from './core/error.filter';
import { DashboardApiModule } from './modules/dashboard/dashboard-api.module';
import { LedgerApiModule } from './modules/ledger/ledger-api.module';
import { OperationsApiModule } from './modules/operations/operations-api.module';
import { ProviderApiModule } from './modules/provider/provider-api.module';
import { ReconciliationApiModule } from './modules/reconciliation/reconciliation-api.module';
import { SubaccountsApiModule } from './modules/subaccounts/subaccounts-api.module';
import { TopupsApiModule } from './modules/topups/topups-api.module';
import { TransfersApiModule } from './modules/transfers/transfers-api.module';
import { WebhooksApiModule } from './modules/webhooks/webhooks-api.module';

/**
 * The HTTP API: the process-wide modules (configuration, Postgres, the producer side of the
 * queues) once, then one module per route family, each importing the feature module
 * (libs/*) whose use cases its controller calls. The worker imports the same feature modules.
 */
@Module({})
export class AppModule {
  static forRoot(ctx: ProcessContext): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(ctx),
        PersistenceModule.forRoot(),
        QueueModule.forRoot({ redisUrl: ctx.config.REDIS_URL, prefix: ctx.config.QUEUE_PREFIX }),
        SubaccountsApiModule, TransfersApiModule, LedgerApiModule, ReconciliationApiModule, TopupsApiModule, OperationsApiModule, DashboardApiModule,
        WebhooksApiModule, ProviderApiModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }
}
