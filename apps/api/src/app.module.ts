import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { Services, SERVICES } from '@app/services';
import { AuthGuard } from './core/auth.guard';
import { ErrorFilter } from './core/error.filter';
import { DashboardController } from './modules/dashboard/dashboard.controller';
import { LedgerController } from './modules/ledger/ledger.controller';
import { OperationsController } from './modules/operations/operations.controller';
import { ProviderController } from './modules/provider/provider.controller';
import { ReconciliationController } from './modules/reconciliation/reconciliation.controller';
import { SubaccountsController } from './modules/subaccounts/subaccounts.controller';
import { TopupsController } from './modules/topups/topups.controller';
import { TransfersController } from './modules/transfers/transfers.controller';
import { WebhooksController } from './modules/webhooks/webhooks.controller';

/** The HTTP API: thin controllers over the use cases built by createServices(). */
@Module({})
export class AppModule {
  static with(services: Services): DynamicModule {
    return {
      module: AppModule,
      controllers: [SubaccountsController, TransfersController, LedgerController, ReconciliationController, TopupsController, OperationsController, DashboardController, WebhooksController, ProviderController],
      providers: [
        { provide: SERVICES, useValue: services },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
      ],
    };
  }
}
