import { Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { ProviderCheckUseCase } from './provider-check';
import { processRegistry, ProviderMetrics } from './provider-metrics';
import { SmsPartnerClient } from './smspartner.client';
import { SubaccountKeyAwareCredits } from './subaccount-keys';

/**
 * The provider (SMS Partner) for this process: one client, every call timed on this
 * process's Prometheus `Registry` (also exported: the API adds its HTTP histogram and gauges
 * to it, the worker serves it), the credit calls that never store an unread sub-account key
 * (SubaccountKeyAwareCredits, used by the worker's execution), and the onboarding check.
 */
@Module({
  providers: [
    { provide: Registry, useFactory: processRegistry },
    { provide: ProviderMetrics, inject: [Registry], useFactory: (registry: Registry) => new ProviderMetrics(registry) },
    {
      provide: SmsPartnerClient,
      inject: [CONFIG, LOGGER, ProviderMetrics],
      useFactory: (config: Config, logger: Logger, metrics: ProviderMetrics) => new SmsPartnerClient({
        baseUrl: config.SMSPARTNER_BASE_URL, apiKey: config.SMSPARTNER_API_KEY, timeoutMs: config.PROVIDER_TIMEOUT_MS, logger,
        onCall: (call, outcome) => metrics.observe(call, outcome),
      }),
    },
    { provide: SubaccountKeyAwareCredits, inject: [SmsPartnerClient], useFactory: (client: SmsPartnerClient) => new SubaccountKeyAwareCredits(client) },
    {
      provide: ProviderCheckUseCase,
      inject: [SmsPartnerClient, CONFIG],
      useFactory: (client: SmsPartnerClient, config: Config) => new ProviderCheckUseCase(client, { baseUrl: config.SMSPARTNER_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS }),
    },
  ],
  exports: [Registry, SmsPartnerClient, SubaccountKeyAwareCredits, ProviderCheckUseCase],
})
export class ProviderModule {}
