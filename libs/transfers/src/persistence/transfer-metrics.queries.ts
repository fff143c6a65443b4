import { Database } from '@app/persistence';

/** The SQL behind the API's transfer gauges on /metrics (read at each scrape). */
export class TransferMetricsQueries {
  constructor(private readonly db: Database) {}

  async inDoubt(providerAccount: string): Promise<{ count: number; oldestAgeSeconds: number }> {
    const [r] = await this.db.query<{ n: number; oldest: number | null }>(
      `SELECT count(*)::int AS n, extract(epoch FROM now() - min(updated_at))::float8 AS oldest FROM transfers WHERE provider_account_id = $1 AND status = 'in_doubt'`,
      [providerAccount],
    );
    return { count: r?.n ?? 0, oldestAgeSeconds: r?.oldest ?? 0 };
  }

  async oldestPendingAgeSeconds(providerAccount: string): Promise<number> {
    const [r] = await this.db.query<{ age: number | null }>(
      `SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM transfers WHERE provider_account_id = $1 AND status = 'pending'`,
      [providerAccount],
    );
    return r?.age ?? 0;
  }
}
