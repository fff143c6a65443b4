import { Module } from '@nestjs/common';
import { WebhooksModule } from '@app/webhooks/module';
import { WebhooksController } from './webhooks.controller';

/** /v1/webhook-deliveries: the delivery log, redelivery. */
@Module({ imports: [WebhooksModule], controllers: [WebhooksController] })
export class WebhooksApiModule {}
