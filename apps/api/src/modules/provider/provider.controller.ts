import { Controller, Inject } from '@nestjs/common';
import { ROUTES } from '@app/api-contract';
import { Services, SERVICES } from '@app/services';
import { Endpoint } from '../../core/endpoint.decorator';

@Controller()
export class ProviderController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  /** Read-only onboarding check of the configured provider (libs/provider provider-check.ts). */
  @Endpoint(ROUTES.providerCheck)
  async check() {
    return this.s.providerCheck.execute();
  }
}
