import { Counter, Histogram, Registry } from 'prom-client';
import { ProviderOutcome } from '@app/provider';

/** Provider call latency and outcomes, per process (the worker makes the credit calls). */
export class ProviderMetrics {
  readonly registry = new Registry();
  private readonly latency = new Histogram({
    name: 'credit_ledger_provider_call_duration_seconds',
    help: 'Provider credit call latency by operation and outcome',
    labelNames: ['operation', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly outcomes = new Counter({
    name: 'credit_ledger_provider_calls_total',
    help: 'Provider credit calls by operation and outcome (ok, rejected, not_sent, unknown)',
    labelNames: ['operation', 'outcome'],
    registers: [this.registry],
  });

  observe(operation: string, outcome: ProviderOutcome<unknown>): void {
    this.latency.observe({ operation, outcome: outcome.kind }, outcome.latencyMs / 1000);
    this.outcomes.inc({ operation, outcome: outcome.kind });
  }
}
