import { Controller } from '@nestjs/common';
import { ROUTES } from '@app/api-contract';
import { ProviderCheckUseCase } from '@app/provider';
import { Endpoint } from '../../core/endpoint.decorator';

@Controller()
export class ProviderController {
  constructor(private readonly providerCheck: ProviderCheckUseCase) {}

  /** Read-only onboarding check of the configured provider (libs/provider provider-check.ts). */
  @Endpoint(ROUTES.providerCheck)
  async check() {
    return this.providerCheck.execute();
  }
}
