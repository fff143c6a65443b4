import { Database } from '@app/persistence';

/** The SQL behind the API's reconciliation gauges on /metrics (read at each scrape). */
export class ReconciliationMetricsQueries {
  constructor(private readonly db: Database) {}

  /** The last finished run of each provider account. */
  async lastReconciliations(): Promise<Array<{ providerAccount: string; finishedAt: number; ok: boolean; drifted: number }>> {
    const rows = await this.db.query<{ provider_account_id: string; finished: number; ok: boolean; drifted: number }>(
      `SELECT DISTINCT ON (provider_account_id) provider_account_id, extract(epoch FROM finished_at)::float8 AS finished,
              status = 'completed' AS ok, drifted
         FROM reconciliation_runs WHERE finished_at IS NOT NULL ORDER BY provider_account_id, finished_at DESC`,
    );
    return rows.map((r) => ({ providerAccount: r.provider_account_id, finishedAt: r.finished, ok: r.ok, drifted: r.drifted }));
  }

  /**
   * Open drift findings per provider account: how many, and the gross amount (the sum of
   * |drift|, so +200 and -4.3 make 204.3, not 195.7). Amounts stay decimal text here.
   */
  async openDrifts(): Promise<Array<{ providerAccount: string; count: number; grossEuros: string }>> {
    const rows = await this.db.query<{ provider_account_id: string; n: number; gross: string }>(
      `SELECT provider_account_id, count(*)::int AS n, sum(abs(drift))::text AS gross FROM drift_findings WHERE status = 'open' GROUP BY 1`,
    );
    return rows.map((r) => ({ providerAccount: r.provider_account_id, count: r.n, grossEuros: r.gross }));
  }
}
