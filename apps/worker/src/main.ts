import '../../../libs/common/src/aliases';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Registry } from 'prom-client';
import { secrets } from '@app/common';
import { Queues } from '@app/common/module';
import { loadConfigOrExit, processContext } from '@app/config';
import { Database } from '@app/persistence';
import { SubaccountKeyAwareCredits } from '@app/provider';
import { startMetricsServer } from './metrics-server';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('worker');
  const ctx = processContext(config, 'worker');
  const { logger } = ctx;
  // Loaded after validation: the processor reads its options from the configuration.
  const { WorkerModule } = await import('./worker.module');
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(ctx), { logger: ['error', 'warn'] });
  // Before the worker reports live: it knows every sub-account key a provider message could
  // echo (the client learns them as it reads the list). Best effort, bounded: a provider that
  // cannot be read is retried by the next list read (imports, reconciliation runs).
  await app.get(SubaccountKeyAwareCredits).learnAll()
    .then(() => logger.debug({ secrets: secrets.size }, 'sub-account keys read'))
    .catch((err: Error) => logger.warn({ err: err.message }, 'sub-account keys not read at start; the next list read learns them'));
  const metrics = startMetricsServer({ config, logger, registry: app.get(Registry), db: app.get(Database), redis: app.get(Queues).connection });
  logger.info({ concurrency: config.WORKER_CONCURRENCY, ratePerSecond: config.PROVIDER_RATE_LIMIT_PER_SECOND }, 'credit-ledger worker started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker stopping: no new jobs, finishing calls in flight');
    // Closing the Nest context closes the BullMQ workers first, which wait for active jobs
    // (each provider call is bounded by PROVIDER_TIMEOUT_MS), then the queues, Redis and the
    // pool (the modules' shutdown hooks): nothing is left executing.
    await app.close();
    metrics?.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

void bootstrap().catch((err) => {
  process.stderr.write(`credit-ledger worker failed to start: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
