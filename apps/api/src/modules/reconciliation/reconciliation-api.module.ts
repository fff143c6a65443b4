import { Module } from '@nestjs/common';
import { ReconciliationModule } from '@app/reconciliation/module';
import { ReconciliationController } from './reconciliation.controller';

/** /v1/reconciliations, /v1/drifts, /v1/reports/usage. */
@Module({ imports: [ReconciliationModule], controllers: [ReconciliationController] })
export class ReconciliationApiModule {}
