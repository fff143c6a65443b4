import { Module } from '@nestjs/common';
import { ProviderModule } from '@app/provider/module';
import { ReconciliationModule } from '@app/reconciliation/module';
import { TransfersModule } from '@app/transfers/module';
import { WebhooksModule } from '@app/webhooks/module';
import { OperationsController } from './operations.controller';

/** /health, /metrics (this process's registry and the gauges read at each scrape). */
@Module({ imports: [ProviderModule, TransfersModule, ReconciliationModule, WebhooksModule], controllers: [OperationsController] })
export class OperationsApiModule {}
