import { Module } from '@nestjs/common';
import { ProviderModule } from '@app/provider/module';
import { ProviderController } from './provider.controller';

/** /v1/provider/check. */
@Module({ imports: [ProviderModule], controllers: [ProviderController] })
export class ProviderApiModule {}
