import { Controller, Inject, OnModuleDestroy, Res } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Gauge, Registry } from 'prom-client';
import { ROUTES } from '@app/api-contract';
import { DomainError, QUEUES } from '@app/common';
import { pendingMigrations } from '@app/persistence';
import { Services, SERVICES } from '@app/services';
import { Endpoint } from '../../core/endpoint.decorator';

type Reply = { header(k: string, v: string): Reply; status(n: number): Reply };

@Controller()
export class OperationsController implements OnModuleDestroy {
  private readonly registry = new Registry();
  /** Every queue of libs/common/src/queues.ts, read-only here (depth and age of the oldest job). */
  private readonly queues: Queue[];

  constructor(@Inject(SERVICES) private readonly s: Services) {
    const transfers = this.s.transfers;
    new Gauge({
      name: 'credit_ledger_transfers', help: 'Transfers by status', labelNames: ['provider_account', 'status'], registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of await transfers.countsByStatus()) this.set({ provider_account: r.provider_account_id, status: r.status }, r.n);
      },
    });
    const providerAccount = this.s.providerAccount;
    const queues = (this.queues = Object.values(QUEUES).map((name) => {
      const q = new Queue(name, { connection: this.s.producerRedis, prefix: this.s.config.QUEUE_PREFIX });
      q.on('error', () => undefined);
      return q;
    }));
    new Gauge({
      name: 'credit_ledger_queue_jobs', help: 'Queue jobs by queue and state', labelNames: ['queue', 'state'], registers: [this.registry],
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
      labelNames: ['queue'], registers: [this.registry],
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
    const db = this.s.db;
    new Gauge({
      name: 'credit_ledger_in_doubt_transfers', help: 'Transfers in doubt (a provider call with an unknown outcome): count and age of the oldest',
      labelNames: ['provider_account', 'field'], registers: [this.registry],
      async collect() {
        this.reset();
        const [r] = await db.query<{ n: number; oldest: number | null }>(
          `SELECT count(*)::int AS n, extract(epoch FROM now() - min(updated_at))::float8 AS oldest FROM transfers WHERE provider_account_id = $1 AND status = 'in_doubt'`,
          [providerAccount],
        );
        this.set({ provider_account: providerAccount, field: 'count' }, r?.n ?? 0);
        this.set({ provider_account: providerAccount, field: 'oldest_age_seconds' }, r?.oldest ?? 0);
      },
    });
    const webhooks = this.s.webhookDeliveries;
    new Gauge({
      name: 'credit_ledger_webhook_events', help: 'Webhook events by delivery status (pending, delivered, failed)', labelNames: ['status'], registers: [this.registry],
      async collect() {
        this.reset();
        const stats = await webhooks.stats(providerAccount);
        for (const status of ['pending', 'delivered', 'failed']) this.set({ status }, stats.byStatus[status] ?? 0);
      },
    });
    new Gauge({
      name: 'credit_ledger_webhook_oldest_pending_age_seconds', help: 'Age of the oldest webhook event not yet delivered (0: none)', registers: [this.registry],
      async collect() {
        this.set((await webhooks.stats(providerAccount)).oldestPendingSeconds);
      },
    });
    new Gauge({
      name: 'credit_ledger_oldest_pending_transfer_age_seconds', help: 'Age of the oldest pending transfer', registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ age: number | null }>(`SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM transfers WHERE status = 'pending'`);
        this.set(r?.age ?? 0);
      },
    });
    new Gauge({
      name: 'credit_ledger_last_reconciliation', help: 'Last finished reconciliation run: finish time (unix seconds), success (1/0) and drifted accounts',
      labelNames: ['provider_account', 'field'], registers: [this.registry],
      async collect() {
        this.reset();
        const rows = await db.query<{ provider_account_id: string; finished: number; ok: number; drifted: number }>(
          `SELECT DISTINCT ON (provider_account_id) provider_account_id, extract(epoch FROM finished_at)::float8 AS finished,
                  (status = 'completed')::int AS ok, drifted
             FROM reconciliation_runs WHERE finished_at IS NOT NULL ORDER BY provider_account_id, finished_at DESC`,
        );
        for (const r of rows) {
          this.set({ provider_account: r.provider_account_id, field: 'finished_at_seconds' }, r.finished);
          this.set({ provider_account: r.provider_account_id, field: 'success' }, r.ok);
          this.set({ provider_account: r.provider_account_id, field: 'drifted_accounts' }, r.drifted);
        }
      },
    });
    new Gauge({
      name: 'credit_ledger_open_drift_total', help: 'Sum of open drift findings (EUR) and their count per provider account', labelNames: ['provider_account', 'field'], registers: [this.registry],
      async collect() {
        this.reset();
        // Rendered as a float for Prometheus only; money stays decimal everywhere else.
        const rows = await db.query<{ provider_account_id: string; total: string; n: number }>(
          `SELECT provider_account_id, sum(drift)::text AS total, count(*)::int AS n FROM drift_findings WHERE status = 'open' GROUP BY 1`,
        );
        for (const r of rows) {
          this.set({ provider_account: r.provider_account_id, field: 'eur' }, Number(r.total));
          this.set({ provider_account: r.provider_account_id, field: 'count' }, r.n);
        }
      },
    });
  }

  async onModuleDestroy() {
    this.registry.clear();
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
  }

  @Endpoint(ROUTES.healthLive)
  live() {
    return { status: 'ok' };
  }

  @Endpoint(ROUTES.healthReady)
  async ready(@Res({ passthrough: true }) reply: Reply) {
    const checks: Record<string, string> = {};
    await this.s.db.ping().then(() => (checks.postgres = 'ok'), (e: Error) => (checks.postgres = `down: ${e.message}`));
    if (checks.postgres === 'ok') {
      const pending = await pendingMigrations((sql) => this.s.db.query(sql));
      checks.migrations = pending.length ? `pending: ${pending.join(', ')}` : 'ok';
    }
    await this.s.producerRedis.ping().then(() => (checks.redis = 'ok'), (e: Error) => (checks.redis = `down: ${e.message}`));
    if (checks.redis === 'ok') {
      await this.s.queue.queue.getJobCounts('waiting').then(() => (checks.queue = 'ok'), (e: Error) => (checks.queue = `down: ${e.message}`));
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
