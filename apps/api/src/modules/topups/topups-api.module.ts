import { Module } from '@nestjs/common';
import { TopupsModule } from '@app/topups/module';
import { TopupsController } from './topups.controller';

/** /v1/topup-policies, /v1/topup-runs. */
@Module({ imports: [TopupsModule], controllers: [TopupsController] })
export class TopupsApiModule {}
