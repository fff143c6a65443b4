import { hostname } from 'node:os';
import { Config } from '@app/config';
import { createLogger, Logger, Semaphore } from '@app/common';
import { Database, LedgerQueries, LedgerRepository } from '@app/persistence';
import { SmsPartnerClient } from '@app/provider';
import { CreateSubaccountUseCase, ImportSubaccountsUseCase, SubaccountsQueries } from '@app/subaccounts';
import {
  BullTransferQueue, ExecuteTransferUseCase, PostedSettlements, ProcessTransferJobUseCase, RecordTransferBatchUseCase, RecordTransferUseCase, redisConnection,
  ResolveTransferUseCase, SweepTransfersUseCase, TransfersRepository,
} from '@app/transfers';
import { AccountHistoryQueries, ReconciliationQueries, ResolveDriftUseCase, RunReconciliationUseCase } from '@app/reconciliation';
import {
  CreateTopupPolicyUseCase, DeleteTopupPolicyUseCase, PreviewTopupPolicyUseCase, RunDueTopupsUseCase, TopupsQueries, UpdateTopupPolicyUseCase,
} from '@app/topups';
import { BullWebhookQueue, DeliverWebhookUseCase, OutboxEventsQueries, RelayWebhooksUseCase } from '@app/webhooks';
import { ProviderMetrics } from './provider-metrics';
import { AlertWebhook } from './alert-webhook';

/**
 * The composition root: every use case built from one validated configuration. The API and
 * the worker wire the same objects (Nest only hosts them); tests build them the same way.
 */
export function createServices(config: Config, role: 'api' | 'worker') {
  const logger: Logger = createLogger(`credit-ledger-${role}`, config.LOG_LEVEL);
  const db = new Database(config.DATABASE_URL, { max: role === 'api' ? 20 : Math.max(10, WORKER_JOBS_PER_CALL_SLOT * config.WORKER_CONCURRENCY + 4), applicationName: `credit-ledger-${role}` });
  const providerAccount = config.PROVIDER_ACCOUNT;
  const ledger = new LedgerRepository(db);
  const ledgerQueries = new LedgerQueries(db);
  const transfers = new TransfersRepository(db);
  const producerRedis = redisConnection(config.REDIS_URL, false);
  producerRedis.on('error', () => undefined);
  const queue = new BullTransferQueue(producerRedis, config.QUEUE_PREFIX);
  const provider = new SmsPartnerClient({ baseUrl: config.SMSPARTNER_BASE_URL, apiKey: config.SMSPARTNER_API_KEY, timeoutMs: config.PROVIDER_TIMEOUT_MS, logger });
  const providerMetrics = new ProviderMetrics();
  const executeTransfer = new ExecuteTransferUseCase(db, ledger, provider, {
    providerAccount,
    callSlots: new Semaphore(config.WORKER_CONCURRENCY),
    settlements: new PostedSettlements(db, ledger, logger),
    leaseMs: config.EXECUTION_LEASE_MS,
    workerId: `${hostname()}:${process.pid}`,
    maxAttempts: config.PROVIDER_MAX_ATTEMPTS,
    baseDelayMs: config.PROVIDER_RETRY_BASE_MS,
    logger,
    onProviderCall: (direction, outcome) => providerMetrics.observe(direction, outcome),
  });
  const recordTransfer = new RecordTransferUseCase(db, ledger, transfers, queue, { expirySeconds: config.TRANSFER_EXPIRY_SECONDS, logger });

  const resolveTransfer = new ResolveTransferUseCase(db, ledger);
  const clock = () => new Date();
  const alerts = new AlertWebhook(config.ALERT_WEBHOOK_URL, logger);
  const webhookQueue = new BullWebhookQueue(producerRedis, config.QUEUE_PREFIX, { attempts: config.WEBHOOK_MAX_ATTEMPTS, baseDelayMs: config.WEBHOOK_RETRY_BASE_MS });

  return {
    config,
    logger,
    db,
    providerAccount,
    ledger,
    ledgerQueries,
    transfers,
    queue,
    producerRedis,
    provider,
    providerMetrics,
    subaccounts: new SubaccountsQueries(db),
    importSubaccounts: new ImportSubaccountsUseCase(db, ledger, provider),
    createSubaccount: new CreateSubaccountUseCase(db, ledger, provider),
    recordTransfer,
    recordTransferBatch: new RecordTransferBatchUseCase(recordTransfer),
    resolveTransfer,
    reconciliations: new ReconciliationQueries(db),
    accountHistory: new AccountHistoryQueries(db),
    resolveDrift: new ResolveDriftUseCase(db, ledger),
    runReconciliation: new RunReconciliationUseCase(db, ledger, provider, resolveTransfer, {
      tolerance: config.RECONCILE_TOLERANCE,
      autoBookUsage: config.RECONCILE_AUTO_BOOK_USAGE,
      inDoubtGraceMs: config.RECONCILE_IN_DOUBT_GRACE_MS,
      logger,
      onDrift: (alert) => {
        for (const d of alert.drifted) logger.warn({ runId: alert.runId, account: d.account, drift: d.drift, suggestion: d.suggestion }, 'reconciliation drift');
        alerts.send(alert);
      },
    }),
    executeTransfer,
    processTransferJob: new ProcessTransferJobUseCase(executeTransfer, queue),
    sweepTransfers: new SweepTransfersUseCase(providerAccount, db, ledger, queue, logger),
    // Top-ups read the wall clock here; tests inject a fake one into the same use cases.
    topups: new TopupsQueries(db),
    createTopupPolicy: new CreateTopupPolicyUseCase(db, { now: clock, defaultTimezone: config.TOPUP_TIMEZONE }),
    updateTopupPolicy: new UpdateTopupPolicyUseCase(db, { now: clock }),
    deleteTopupPolicy: new DeleteTopupPolicyUseCase(db, { now: clock }),
    previewTopupPolicy: new PreviewTopupPolicyUseCase(db, provider, { now: clock }),
    runDueTopups: new RunDueTopupsUseCase(db, recordTransfer, provider, { now: clock, logger }),
    webhookQueue,
    webhookDeliveries: new OutboxEventsQueries(db),
    relayWebhooks: new RelayWebhooksUseCase(db, webhookQueue, providerAccount),
    // Present only when WEBHOOK_URL is set (the configuration then requires the secret).
    deliverWebhook: config.WEBHOOK_URL && config.WEBHOOK_SECRET
      ? new DeliverWebhookUseCase(db, { url: config.WEBHOOK_URL, secret: config.WEBHOOK_SECRET, providerAccount, logger })
      : undefined,
    async close() {
      await queue.close().catch(() => undefined);
      await webhookQueue.close().catch(() => undefined);
      producerRedis.disconnect();
      await db.close();
    },
  };
}

export type Services = ReturnType<typeof createServices>;
export const SERVICES = Symbol('SERVICES');

/**
 * A worker keeps this many jobs in flight per provider call slot (WORKER_CONCURRENCY): while
 * one job records the outcome of its call in Postgres, another already uses the slot.
 */
export const WORKER_JOBS_PER_CALL_SLOT = 2;
