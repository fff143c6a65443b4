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
   * none closed yet), leaving out `excluded` (those with a call of unknown outcome); the
   * longest unbooked first (never booked, then by their last closed reading), so that a
   * booker that stops early never starves the others.
   */
  async withUnpairedReadings(providerAccount: string, excluded: readonly string[], limit: number): Promise<string[]> {
    const rows = await this.db.query<{ token: string }>(
      `SELECT s.token FROM subaccounts s
         LEFT JOIN LATERAL (SELECT max(u.to_observation_id) AS last FROM usage_bookings u WHERE u.account_id = s.account_id) u ON true
        WHERE s.provider_account_id = $1 AND s.token <> ALL ($3::text[])
          AND CASE WHEN u.last IS NULL THEN EXISTS (SELECT 1 FROM observations o WHERE o.account_id = s.account_id OFFSET 1)
                   ELSE EXISTS (SELECT 1 FROM observations o WHERE o.account_id = s.account_id AND o.id > u.last) END
        ORDER BY u.last ASC NULLS FIRST, s.token
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

  /** Closed pairs, in one statement. The unique constraint on the closing reading means nothing is booked twice. */
  async recordPairs(tx: Tx, providerAccount: string, pairs: UsagePair[]): Promise<void> {
    if (!pairs.length) return;
    const col = <T>(f: (p: UsagePair) => T) => pairs.map(f);
    await tx.query(
      `INSERT INTO usage_bookings (provider_account_id, account_id, from_observation_id, to_observation_id, from_at, to_at, seconds,
                                   from_balance, to_balance, known, usage, kind, ledger_transaction_id)
       SELECT $1, p.account_id, p.from_id, p.to_id, to_timestamp(p.from_at / 1000), to_timestamp(p.to_at / 1000), p.seconds,
              p.from_balance, p.to_balance, p.known, p.usage, p.kind, p.ledger_transaction_id
         FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::float8[], $6::float8[], $7::numeric[], $8::numeric[], $9::numeric[],
                     $10::numeric[], $11::numeric[], $12::text[], $13::uuid[])
              AS p(account_id, from_id, to_id, from_at, to_at, seconds, from_balance, to_balance, known, usage, kind, ledger_transaction_id)`,
      [providerAccount, col((p) => p.accountId), col((p) => p.prev.id), col((p) => p.next.id), col((p) => p.prev.at), col((p) => p.next.at),
        col((p) => p.seconds.toFixed(3)), col((p) => p.prev.balance.toFixed()), col((p) => p.next.balance.toFixed()), col((p) => p.known.toFixed()),
        col((p) => p.usage.toFixed()), col((p) => p.kind), col((p) => p.ledgerTransactionId)],
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
