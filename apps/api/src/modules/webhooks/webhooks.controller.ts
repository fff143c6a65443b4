import { Controller, Inject } from '@nestjs/common';
import { z } from 'zod';
import { ROUTES, webhookDeliveryQuery } from '@app/api-contract';
import { Config, CONFIG } from '@app/config';
import { OutboxEventsRepository } from '@app/webhooks';
import { Endpoint, ValidParam, ValidQuery } from '../../core/endpoint.decorator';

@Controller()
export class WebhooksController {
  private readonly providerAccount: string;

  constructor(@Inject(CONFIG) config: Config, private readonly webhookDeliveries: OutboxEventsRepository) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  @Endpoint(ROUTES.listWebhookDeliveries)
  list(@ValidQuery() q: z.output<typeof webhookDeliveryQuery>) {
    return this.webhookDeliveries.list(this.providerAccount, { status: q.status, event: q.event, entityId: q.entity, limit: q.limit, cursor: q.cursor });
  }

  @Endpoint(ROUTES.redeliverWebhook, 200)
  redeliver(@ValidParam('id') id: string) {
    return this.webhookDeliveries.redeliver(this.providerAccount, id);
  }
}
