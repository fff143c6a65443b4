import { hostname } from 'node:os';
import { Config, journalSigningKey } from '@app/config';
import { createLogger, Logger, secrets, Semaphore } from '@app/common';
import { Database, JournalDigests, LedgerQueries, LedgerRepository } from '@app/persistence';
import { ProviderCheckUseCase, SmsPartnerClient, SubaccountKeyAwareCredits } from '@app/provider';
import { CreateSubaccountUseCase, ImportSubaccountsUseCase, SubaccountsQueries } from '@app/subaccounts';
import {
  BullTransferQueue, ClaimGroups, EvidenceQueries, RedisCallRate, ExecuteTransferUseCase, PostedSettlements, ProcessTransferJobUseCase, RecordTransferBatchUseCase, RecordTransferUseCase, redisConnection,
  ResolveTransferUseCase, SettleInDoubtUseCase, SweepTransfersUseCase, TransfersRepository,
} from '@app/transfers';
import { AccountHistoryQueries, BookUsageUseCase, ReconciliationQueries, ResolveDriftUseCase, RunReconciliationUseCase, UsageReportQueries } from '@app/reconciliation';
import { Money } from '@app/ledger';
import {
  CreateTopupPolicyUseCase, DeleteTopupPolicyUseCase, PreviewTopupPolicyUseCase, RunDueTopupsUseCase, TopupsQueries, UpdateTopupPolicyUseCase,
} from '@app/topups';
import { BullWebhookQueue, DeliverWebhookUseCase, OutboxEventsQueries, RelayWebhooksUseCase } from '@app/webhooks';
import { processRegistry, ProviderMetrics } from './provider-metrics';
import { MetricsQueries } from './metrics.queries';
import { AlertWebhook } from './alert-webhook';

/**
 * The composition root: every use case built from one validated configuration. The API and
 * the worker wire the same objects (Nest only hosts them); tests build them the same way.
 */
export function createServices(config: Config, role: 'api' | 'worker') {
  // Every configured secret is scrubbed from logs, stored provider text and error answers.
  secrets.add(config.SMSPARTNER_API_KEY, ...(config.API_TOKENS ?? []).map((t) => t.token), config.WEBHOOK_SECRET, config.METRICS_TOKEN, config.JOURNAL_SIGNING_KEY);
  const logger: Logger = createLogger(`credit-ledger-${role}`, config.LOG_LEVEL);
  const db = new Database(config.DATABASE_URL, { max: role === 'api' ? 20 : Math.max(10, WORKER_JOBS_PER_CALL_SLOT * config.WORKER_CONCURRENCY + 4), applicationName: `credit-ledger-${role}` });
  const providerAccount = config.PROVIDER_ACCOUNT;
  const ledger = new LedgerRepository(db);
  const ledgerQueries = new LedgerQueries(db);
  const transfers = new TransfersRepository(db);
  const producerRedis = redisConnection(config.REDIS_URL, false);
  producerRedis.on('error', () => undefined);
  const queue = new BullTransferQueue(producerRedis, config.QUEUE_PREFIX);
  // This process's Prometheus registry: default Node metrics, provider calls, and what the app adds.
  const metrics = processRegistry();
  const providerMetrics = new ProviderMetrics(metrics);
  const provider = new SmsPartnerClient({
    baseUrl: config.SMSPARTNER_BASE_URL, apiKey: config.SMSPARTNER_API_KEY, timeoutMs: config.PROVIDER_TIMEOUT_MS, logger,
    onCall: (call, outcome) => providerMetrics.observe(call, outcome),
  });
  // IN_DOUBT_BARRIER: later transfers of a sub-account wait (at most IN_DOUBT_BARRIER_MAX_MS) while one is in doubt
  // and the worker is settling it (IN_DOUBT_AUTO_SETTLE); without settlement there is nothing to wait for.
  const inDoubtBarrierMs = config.IN_DOUBT_BARRIER && config.IN_DOUBT_AUTO_SETTLE ? config.IN_DOUBT_BARRIER_MAX_MS : 0;
  // Credit calls that never store a sub-account key this process has not read yet.
  const credits = new SubaccountKeyAwareCredits(provider);
  const workerId = `${hostname()}:${process.pid}`;
  const executeTransfer = new ExecuteTransferUseCase(db, ledger, credits, {
    providerAccount,
    callSlots: new Semaphore(config.WORKER_CONCURRENCY),
    settlements: new PostedSettlements(db, ledger, logger),
    claims: new ClaimGroups(db, { providerAccount, workerId, leaseMs: config.EXECUTION_LEASE_MS, inDoubtBarrierMs, logger }),
    // Shared by every worker of the provider account; jobs that make no call give their permit back.
    callRate: new RedisCallRate(producerRedis, `${config.QUEUE_PREFIX}:provider-calls:${providerAccount}`, config.PROVIDER_RATE_LIMIT_PER_SECOND),
    leaseMs: config.EXECUTION_LEASE_MS,
    workerId,
    maxAttempts: config.PROVIDER_MAX_ATTEMPTS,
    baseDelayMs: config.PROVIDER_RETRY_BASE_MS,
    logger,
    inDoubtBarrierMs,
  });
  const recordTransfer = new RecordTransferUseCase(db, ledger, transfers, queue, { expirySeconds: config.TRANSFER_EXPIRY_SECONDS, logger });

  const resolveTransfer = new ResolveTransferUseCase(db, ledger);
  // The evidence rules for in-doubt transfers and usage accounting (docs/in-doubt.md).
  const evidence = new EvidenceQueries(db, config.RECONCILE_IN_DOUBT_GRACE_MS);
  const spend = { floor: Money.parse(config.IN_DOUBT_SPEND_FLOOR), factor: config.IN_DOUBT_SPEND_FACTOR, minWindows: config.IN_DOUBT_MIN_HISTORY_WINDOWS };
  const settleInDoubt = new SettleInDoubtUseCase(db, provider, resolveTransfer, evidence, {
    providerAccount, graceMs: config.RECONCILE_IN_DOUBT_GRACE_MS, probeDelayMs: config.IN_DOUBT_PROBE_DELAY_MS, spend, logger,
  });
  const bookUsage = new BookUsageUseCase(db, ledger, evidence, { providerAccount, enabled: config.USAGE_AUTO_BOOK, spend, logger });
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
    providerCheck: new ProviderCheckUseCase(provider, { baseUrl: config.SMSPARTNER_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS }),
    metrics,
    metricsQueries: new MetricsQueries(db),
    subaccounts: new SubaccountsQueries(db),
    importSubaccounts: new ImportSubaccountsUseCase(db, ledger, provider),
    createSubaccount: new CreateSubaccountUseCase(db, ledger, provider, logger),
    journalDigests: new JournalDigests(db, ledgerQueries, config.JOURNAL_SIGNING_KEY ? journalSigningKey(config.JOURNAL_SIGNING_KEY) : undefined),
    /**
     * Reads the provider's sub-account list once, so that this process knows every
     * sub-account key (the client learns them as it reads) before a provider message could
     * echo one. Best effort, bounded: a provider that cannot be read is retried by the next
     * list read (imports, reconciliation runs).
     */
    async learnSubaccountKeys(): Promise<number> {
      await credits.learnAll();
      return secrets.size;
    },
    recordTransfer,
    recordTransferBatch: new RecordTransferBatchUseCase(recordTransfer),
    resolveTransfer,
    evidence,
    settleInDoubt,
    bookUsage,
    reconciliations: new ReconciliationQueries(db),
    usageReport: new UsageReportQueries(db),
    accountHistory: new AccountHistoryQueries(db),
    resolveDrift: new ResolveDriftUseCase(db, ledger),
    runReconciliation: new RunReconciliationUseCase(db, ledger, provider, resolveTransfer, {
      tolerance: config.RECONCILE_TOLERANCE,
      autoBookUsage: config.RECONCILE_AUTO_BOOK_USAGE,
      inDoubtGraceMs: config.RECONCILE_IN_DOUBT_GRACE_MS,
      settle: () => settleInDoubt,
      bookUsage: config.USAGE_AUTO_BOOK ? () => bookUsage : undefined,
      logger,
      onDrift: (alert) => {
        for (const d of alert.drifted) logger.warn({ runId: alert.runId, account: d.account, drift: d.drift, suggestion: d.suggestion }, 'reconciliation drift');
        alerts.send(alert);
      },
    }),
    executeTransfer,
    processTransferJob: new ProcessTransferJobUseCase(executeTransfer, queue),
    sweepTransfers: new SweepTransfersUseCase(providerAccount, db, ledger, queue, logger, inDoubtBarrierMs),
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
