import { Controller, Inject, Res } from '@nestjs/common';
import { Gauge, Registry } from 'prom-client';
import { ROUTES } from '@app/api-contract';
import { DomainError } from '@app/common';
import { Queues } from '@app/common/module';
import { Config, CONFIG } from '@app/config';
import { Database, pendingMigrations } from '@app/persistence';
import { ReconciliationMetricsQueries } from '@app/reconciliation';
import { BullTransferQueue, TRANSFER_STATUSES, TransfersRepository } from '@app/transfers';
import { OutboxEventsRepository } from '@app/webhooks';
import { Endpoint } from '../../core/endpoint.decorator';

type Reply = { header(k: string, v: string): Reply; status(n: number): Reply };

@Controller()
export class OperationsController {
  /**
   * The gauges of /metrics, read at each scrape, on this process's registry (which also has
   * Node's defaults, the provider calls this process makes and the HTTP request histogram).
   * One unit per metric; every status is exported, 0 when it has nothing.
   */
  constructor(
    @Inject(CONFIG) config: Config,
    private readonly db: Database,
    private readonly queueHandles: Queues,
    private readonly transferQueue: BullTransferQueue,
    private readonly registry: Registry,
    transfers: TransfersRepository,
    reconciliationMetrics: ReconciliationMetricsQueries,
    webhooks: OutboxEventsRepository,
  ) {
    const registers = [registry];
    const providerAccount = config.PROVIDER_ACCOUNT;
    new Gauge({
      name: 'credit_ledger_transfers', help: 'Transfers by status (every status, 0 when none)', labelNames: ['provider_account', 'status'], registers,
      async collect() {
        this.reset();
        for (const status of TRANSFER_STATUSES) this.set({ provider_account: providerAccount, status }, 0);
        for (const r of await transfers.countsByStatus()) this.set({ provider_account: r.provider_account_id, status: r.status }, r.n);
      },
    });
    // Every queue of libs/common/src/queues.ts, read-only here (depth and age of the oldest job).
    const queues = queueHandles.openAll();
    new Gauge({
      name: 'credit_ledger_queue_jobs', help: 'Queue jobs by queue and state', labelNames: ['queue', 'state'], registers,
      async collect() {
        this.reset();
        for (const q of queues) {
          const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed').catch(() => ({}) as Record<string, number>);
          for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
        }
      },
    });
    new Gauge({
      name: 'credit_ledger_queue_oldest_waiting_job_age_seconds', help: 'How long the oldest job ready to run has been waiting for a worker (0: none waiting)',
      labelNames: ['queue'], registers,
      async collect() {
        this.reset();
        for (const q of queues) {
          const [oldest] = await q.getJobs(['wait'], 0, 0, true).catch(() => []);
          // Due since its creation plus the delay it was enqueued with.
          const dueAt = oldest ? oldest.timestamp + (oldest.opts.delay ?? 0) : Date.now();
          this.set({ queue: q.name }, Math.max(0, (Date.now() - dueAt) / 1000));
        }
      },
    });
    new Gauge({
      name: 'credit_ledger_in_doubt_transfers', help: 'Transfers in doubt (a provider call with an unknown outcome): a person must decide', labelNames: ['provider_account'], registers,
      async collect() { this.set({ provider_account: providerAccount }, (await transfers.inDoubtStats(providerAccount)).count); },
    });
    new Gauge({
      name: 'credit_ledger_in_doubt_oldest_age_seconds', help: 'How long the oldest in-doubt transfer has waited for a decision (0: none)', labelNames: ['provider_account'], registers,
      async collect() { this.set({ provider_account: providerAccount }, (await transfers.inDoubtStats(providerAccount)).oldestAgeSeconds); },
    });
    new Gauge({
      name: 'credit_ledger_oldest_pending_transfer_age_seconds', help: 'Age of the oldest transfer not yet executed (0: none)', labelNames: ['provider_account'], registers,
      async collect() { this.set({ provider_account: providerAccount }, await transfers.oldestPendingAgeSeconds(providerAccount)); },
    });
    new Gauge({
      name: 'credit_ledger_webhook_events', help: 'Webhook events by delivery status (pending, delivered, failed)', labelNames: ['status'], registers,
      async collect() {
        this.reset();
        const stats = await webhooks.stats(providerAccount);
        for (const status of ['pending', 'delivered', 'failed']) this.set({ status }, stats.byStatus[status] ?? 0);
      },
    });
    new Gauge({
      name: 'credit_ledger_webhook_oldest_pending_age_seconds', help: 'Age of the oldest webhook event not yet delivered (0: none)', registers,
      async collect() { this.set((await webhooks.stats(providerAccount)).oldestPendingSeconds); },
    });
    const runs = reconciliationMetrics;
    const lastRun = (name: string, help: string, value: (r: Awaited<ReturnType<typeof runs.lastReconciliations>>[number]) => number) => new Gauge({
      name, help, labelNames: ['provider_account'], registers,
      async collect() {
        this.reset();
        for (const r of await runs.lastReconciliations()) this.set({ provider_account: r.providerAccount }, value(r));
      },
    });
    lastRun('credit_ledger_last_reconciliation_timestamp_seconds', 'When the last finished reconciliation run finished (unix time)', (r) => r.finishedAt);
    lastRun('credit_ledger_last_reconciliation_success', 'Whether the last finished reconciliation run completed (1) or failed (0)', (r) => (r.ok ? 1 : 0));
    lastRun('credit_ledger_last_reconciliation_drifted_accounts', 'Accounts the last finished reconciliation run found drifted', (r) => r.drifted);
    new Gauge({
      name: 'credit_ledger_open_drifts', help: 'Open drift findings (count)', labelNames: ['provider_account'], registers,
      async collect() {
        this.reset();
        this.set({ provider_account: providerAccount }, 0);
        for (const r of await runs.openDrifts()) this.set({ provider_account: r.providerAccount }, r.count);
      },
    });
    new Gauge({
      name: 'credit_ledger_open_drift_euros', help: 'Gross amount of the open drift findings: the sum of |drift| in EUR (not netted)', labelNames: ['provider_account'], registers,
      async collect() {
        this.reset();
        this.set({ provider_account: providerAccount }, 0);
        // Rendered as a float for Prometheus only; money stays decimal everywhere else.
        for (const r of await runs.openDrifts()) this.set({ provider_account: r.providerAccount }, Number(r.grossEuros));
      },
    });
  }

  @Endpoint(ROUTES.healthLive)
  live() {
    return { status: 'ok' };
  }

  @Endpoint(ROUTES.healthReady)
  async ready(@Res({ passthrough: true }) reply: Reply) {
    const checks: Record<string, string> = {};
    await this.db.ping().then(() => (checks.postgres = 'ok'), (e: Error) => (checks.postgres = `down: ${e.message}`));
    if (checks.postgres === 'ok') {
      const pending = await pendingMigrations((sql) => this.db.query(sql));
      checks.migrations = pending.length ? `pending: ${pending.join(', ')}` : 'ok';
    }
    await this.queueHandles.connection.ping().then(() => (checks.redis = 'ok'), (e: Error) => (checks.redis = `down: ${e.message}`));
    if (checks.redis === 'ok') {
      await this.transferQueue.queue.getJobCounts('waiting').then(() => (checks.queue = 'ok'), (e: Error) => (checks.queue = `down: ${e.message}`));
    }
    const ok = Object.values(checks).every((v) => v === 'ok');
    reply.status(ok ? 200 : 503);
    return { status: ok ? 'ready' : 'not_ready', checks };
  }

  @Endpoint(ROUTES.metrics)
  async metrics(@Res({ passthrough: true }) reply: Reply) {
    try {
      const text = await this.registry.metrics();
      reply.header('content-type', this.registry.contentType);
      return text;
    } catch (err) {
      throw new DomainError('service_unavailable', `metrics unavailable: ${(err as Error).message}`);
    }
  }
}
