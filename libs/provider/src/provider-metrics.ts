import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { ProviderCallName, ProviderOutcome } from './provider-outcome';

const CALLS: ProviderCallName[] = ['add', 'remove', 'me', 'list', 'create'];
const OUTCOMES: Array<ProviderOutcome<unknown>['kind']> = ['ok', 'rejected', 'not_sent', 'unknown'];

/**
 * The registry of one process (API or worker): Node and process metrics (prom-client's
 * defaults: CPU, memory, event loop lag, GC, open handles) and what the process adds to it.
 */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Every provider call this process makes, timed: the worker's credit calls (add, remove),
 * the reconciliation's and top-ups' reads (me, list) wherever they run, sub-account
 * creation and import. Each process exposes its own calls; sum them across processes.
 */
export class ProviderMetrics {
  private readonly latency: Histogram<'operation' | 'outcome'>;
  private readonly calls: Counter<'operation' | 'outcome'>;

  constructor(registry: Registry) {
    this.latency = new Histogram({
      name: 'credit_ledger_provider_call_duration_seconds',
      help: 'Provider call latency by operation (add, remove, me, list, create) and outcome',
      labelNames: ['operation', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.calls = new Counter({
      name: 'credit_ledger_provider_calls_total',
      help: 'Provider calls by operation and outcome (ok, rejected, not_sent, unknown)',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
    // Every series exists from the start, at 0, so rate() and alerts see the first call.
    for (const operation of CALLS) for (const outcome of OUTCOMES) this.calls.labels(operation, outcome).inc(0);
  }

  observe(operation: ProviderCallName, outcome: ProviderOutcome<unknown>): void {
    this.latency.observe({ operation, outcome: outcome.kind }, outcome.latencyMs / 1000);
    this.calls.inc({ operation, outcome: outcome.kind });
  }
}
