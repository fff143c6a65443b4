import { Money } from '@app/ledger';
import { Database, Tx } from '@app/persistence';
import { BalanceReading } from '@app/transfers';

/** What a pair of readings was judged to be (docs/in-doubt.md, "Usage"). */
export type PairKind = 'usage' | 'none' | 'gain' | 'implausible' | 'buyer';

export interface UsagePair {
  accountId: string;
  prev: BalanceReading;
  next: BalanceReading;
  seconds: number;
  known: Money;
  usage: Money;
  kind: PairKind;
  ledgerTransactionId: string | null;
}

/** The SQL of `usage_bookings`: the pairs of readings usage accounting has closed. */
export class UsageBookingsRepository {
  constructor(private readonly db: Database) {}

  /**
   * Sub-accounts with a reading after the last pair they closed (or a second reading, when
   * none closed yet), leaving out `excluded` (those with a call of unknown outcome).
   */
  async withUnpairedReadings(providerAccount: string, excluded: readonly string[], limit: number): Promise<string[]> {
    const rows = await this.db.query<{ token: string }>(
      `SELECT s.token FROM subaccounts s
         LEFT JOIN LATERAL (SELECT max(u.to_observation_id) AS last FROM usage_bookings u WHERE u.account_id = s.account_id) u ON true
        WHERE s.provider_account_id = $1 AND s.token <> ALL ($3::text[])
          AND EXISTS (SELECT 1 FROM observations o WHERE o.account_id = s.account_id
                        AND o.id > coalesce(u.last, (SELECT min(f.id) FROM observations f WHERE f.account_id = s.account_id)))
        LIMIT $2`,
      [providerAccount, limit, excluded],
    );
    return rows.map((r) => r.token);
  }

  /** Locks the sub-account row (one booking of it at a time); its ledger account id, or null when unknown. */
  async lockSubaccount(tx: Tx, providerAccount: string, token: string): Promise<string | null> {
    const [sub] = await tx.query<{ account_id: string }>('SELECT account_id FROM subaccounts WHERE provider_account_id = $1 AND token = $2 FOR NO KEY UPDATE', [providerAccount, token]);
    return sub ? String(sub.account_id) : null;
  }

  /** The observation that closed the account's last pair, if any. */
  async lastClosedReading(tx: Tx, accountId: string): Promise<string | null> {
    const [last] = await tx.query<{ to_observation_id: string }>('SELECT to_observation_id FROM usage_bookings WHERE account_id = $1 ORDER BY to_at DESC, to_observation_id DESC LIMIT 1', [accountId]);
    return last ? String(last.to_observation_id) : null;
  }

  /** A closed pair. The unique constraint on the closing reading means nothing is booked twice. */
  async recordPair(tx: Tx, providerAccount: string, p: UsagePair): Promise<void> {
    await tx.query(
      `INSERT INTO usage_bookings (provider_account_id, account_id, from_observation_id, to_observation_id, from_at, to_at, seconds,
                                   from_balance, to_balance, known, usage, kind, ledger_transaction_id)
       VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), to_timestamp($6::double precision / 1000), $7, $8, $9, $10, $11, $12, $13)`,
      [providerAccount, p.accountId, p.prev.id, p.next.id, p.prev.at, p.next.at, p.seconds.toFixed(3), p.prev.balance.toFixed(), p.next.balance.toFixed(),
        p.known.toFixed(), p.usage.toFixed(), p.kind, p.ledgerTransactionId],
    );
  }

  /** Usage booked for the account since `since`, up to its observation `observationId` (a run's reading). */
  async bookedUpTo(accountId: string, observationId: string, since: Date): Promise<{ amount: Money; bookings: number }> {
    const [row] = await this.db.query<{ usage: string; n: number }>(
      `SELECT coalesce(sum(u.usage), 0) AS usage, count(*)::int AS n FROM usage_bookings u
        WHERE u.account_id = $1 AND u.kind = 'usage' AND u.created_at >= $2
          AND u.to_at <= (SELECT observed_at FROM observations WHERE id = $3)`,
      [accountId, since, observationId],
    );
    return { amount: Money.parse(row.usage), bookings: row.n };
  }
}
