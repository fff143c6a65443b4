import { Controller, Inject } from '@nestjs/common';
import { z } from 'zod';
import { ROUTES, webhookDeliveryQuery } from '@app/api-contract';
import { Services, SERVICES } from '@app/services';
import { Endpoint, ValidParam, ValidQuery } from '../../core/endpoint.decorator';

@Controller()
export class WebhooksController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Endpoint(ROUTES.listWebhookDeliveries)
  list(@ValidQuery() q: z.output<typeof webhookDeliveryQuery>) {
    return this.s.webhookDeliveries.list(this.s.providerAccount, { status: q.status, event: q.event, entityId: q.entity, limit: q.limit, cursor: q.cursor });
  }

  @Endpoint(ROUTES.redeliverWebhook, 200)
  redeliver(@ValidParam('id') id: string) {
    return this.s.webhookDeliveries.redeliver(this.s.providerAccount, id);
  }
}
