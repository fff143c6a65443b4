import { Module } from '@nestjs/common';
import { TransfersModule } from '@app/transfers/module';
import { TransfersController } from './transfers.controller';

/** /v1/transfers: record (one or a batch), list, read, resolve. */
@Module({ imports: [TransfersModule], controllers: [TransfersController] })
export class TransfersApiModule {}
