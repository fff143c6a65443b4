import { Controller, Inject, OnModuleDestroy, Res } from '@nestjs/common';
import { Gauge, Registry } from 'prom-client';
import { ROUTES } from '@app/api-contract';
import { DomainError } from '@app/common';
import { pendingMigrations } from '@app/persistence';
import { Services, SERVICES } from '@app/services';
import { Endpoint } from '../../core/endpoint.decorator';

type Reply = { header(k: string, v: string): Reply; status(n: number): Reply };

@Controller()
export class OperationsController implements OnModuleDestroy {
  private readonly registry = new Registry();

  constructor(@Inject(SERVICES) private readonly s: Services) {
    const transfers = this.s.transfers;
    new Gauge({
      name: 'credit_ledger_transfers', help: 'Transfers by status', labelNames: ['provider_account', 'status'], registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of await transfers.countsByStatus()) this.set({ provider_account: r.provider_account_id, status: r.status }, r.n);
      },
    });
    const queue = this.s.queue.queue;
    new Gauge({
      name: 'credit_ledger_queue_jobs', help: 'Transfer queue jobs by state', labelNames: ['state'], registers: [this.registry],
      async collect() {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed').catch(() => ({}) as Record<string, number>);
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    const db = this.s.db;
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

  onModuleDestroy() {
    this.registry.clear();
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
