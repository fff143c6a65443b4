import '../../../libs/common/src/aliases';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { loadConfigOrExit } from '@app/config';
import { createServices } from '@app/services';
import { startMetricsServer } from './metrics-server';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('worker');
  const services = createServices(config, 'worker');
  // Loaded after validation: the processor reads its options from the configuration.
  const { WorkerModule } = await import('./worker.module');
  const app = await NestFactory.createApplicationContext(WorkerModule.with(services), { logger: ['error', 'warn'] });
  // Before the worker reports live: it knows every sub-account key a provider message could echo.
  await services.learnSubaccountKeys().catch((err: Error) => services.logger.warn({ err: err.message }, 'sub-account keys not read at start; the next list read learns them'));
  const metrics = startMetricsServer(services);
  services.logger.info({ concurrency: config.WORKER_CONCURRENCY, ratePerSecond: config.PROVIDER_RATE_LIMIT_PER_SECOND }, 'credit-ledger worker started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    services.logger.info({ signal }, 'worker stopping: no new jobs, finishing calls in flight');
    // Closing the Nest context closes the BullMQ worker, which waits for active jobs; each
    // provider call is bounded by PROVIDER_TIMEOUT_MS, so nothing is left executing.
    await app.close();
    metrics?.close();
    await services.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

void bootstrap().catch((err) => {
  process.stderr.write(`credit-ledger worker failed to start: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
