import { Module } from '@nestjs/common';
import { SubaccountsModule } from '@app/subaccounts/module';
import { SubaccountsController } from './subaccounts.controller';

/** /v1/subaccounts: list, read, create, import. */
@Module({ imports: [SubaccountsModule], controllers: [SubaccountsController] })
export class SubaccountsApiModule {}
