import { Module } from '@nestjs/common';
import { ReconciliationModule } from '@app/reconciliation/module';
import { DashboardController } from './dashboard.controller';

/** What the dashboard reads beyond the rest of the API (/v1/me, balance history); its page is served by dashboard.static.ts. */
@Module({ imports: [ReconciliationModule], controllers: [DashboardController] })
export class DashboardApiModule {}
