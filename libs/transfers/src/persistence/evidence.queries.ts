import { Money } from '@app/ledger';
import { Database, Tx } from '@app/persistence';
import { BalanceReading, measuredWindows, Movement, ReadingSource, UsageWindow, Verdict } from '../domain/evidence';

interface ObservationRow { id: string; source: ReadingSource; balance: string; observed_at: Date; read_started_at: Date | null; transfer_id: string | null; main_balance: string | null }

interface MovementRow {
  id: string; status: string; direction: 'add' | 'remove'; amount: string; call_started_at: Date | null; created_at: Date;
  provider_at: Date | null; updated_at: Date; in_doubt_at: Date | null; lease_expires_at: Date | null;
}

/** The `evidence` of the transfer view (GET /v1/transfers/:id): what an operator sees. */
export interface EvidenceJson {
  status: 'undecided' | 'decided';
  outcome: 'applied' | 'not_applied' | null;
  summary: string;
  readings: Array<{ source: ReadingSource; at: string; subaccountBalance: string | null; mainBalance: string | null }>;
  hypotheses: Array<{ outcome: 'applied' | 'not_applied'; refuted: boolean; needs: string; why: string | null }>;
  assumptions: string[];
  suggestion: string | null;
  evaluatedAt: string;
}

export function evidenceJson(v: Verdict, evaluatedAt: Date): EvidenceJson {
  return {
    status: v.status,
    outcome: v.outcome,
    summary: v.summary,
    readings: v.readings.map((r) => ({ source: r.source, at: new Date(r.at).toISOString(), subaccountBalance: r.balance.toFixed(), mainBalance: r.mainBalance?.toFixed() ?? null })),
    hypotheses: v.hypotheses,
    assumptions: v.assumptions,
    suggestion: v.suggestion,
    evaluatedAt: evaluatedAt.toISOString(),
  };
}

export interface SubaccountEvidenceTarget { token: string; accountId: string; isBuyer: boolean }

/**
 * What the evidence rules read about one sub-account: its exact readings (observations with
 * the instant interval they were taken in) and our calls on it with the interval their
 * effect lies in. SQL only; the rules are in domain/evidence.ts.
 */
export class EvidenceQueries {
  constructor(private readonly db: Database, private readonly graceMs: number) {}

  async target(providerAccount: string, token: string, tx: Tx | Database = this.db): Promise<SubaccountEvidenceTarget | null> {
    const rows = await tx.query<{ account_id: string; is_buyer: boolean | null; type: string }>(
      'SELECT account_id, is_buyer, type FROM subaccounts WHERE provider_account_id = $1 AND token = $2', [providerAccount, token],
    );
    if (!rows.length) return null;
    // Only an advanced sub-account can be a buyer; an advanced one whose flag we never saw
    // (imported: the list does not say) is treated as a buyer: the sign rule is then not trusted.
    const r = rows[0];
    return { token, accountId: r.account_id, isBuyer: r.is_buyer === true || (r.is_buyer === null && r.type === 'advanced') };
  }

  /** Readings of the account from the last one taken at or before `since` onwards (at most `limit`). */
  async readings(accountId: string, since: Date, limit = 200, tx: Tx | Database = this.db): Promise<BalanceReading[]> {
    const rows = await tx.query<ObservationRow>(
      `WITH anchor AS (
         SELECT coalesce((SELECT observed_at FROM observations WHERE account_id = $1 AND observed_at <= $2 ORDER BY observed_at DESC, id DESC LIMIT 1), $2) AS at)
       SELECT o.id, o.source, o.balance, o.observed_at, o.read_started_at, o.transfer_id,
              (SELECT m.balance FROM observations m JOIN ledger_accounts a ON a.id = m.account_id AND a.code = 'main'
                WHERE o.transfer_id IS NOT NULL AND m.transfer_id = o.transfer_id AND m.id <> o.id LIMIT 1) AS main_balance
         FROM observations o, anchor WHERE o.account_id = $1 AND o.observed_at >= anchor.at
        ORDER BY o.observed_at, o.id LIMIT $3`,
      [accountId, since, limit],
    );
    return rows.map(toReading);
  }

  /** Readings after a given observation (usage accounting walks them in order). */
  async readingsAfter(accountId: string, afterObservationId: string | null, limit = 200, tx: Tx | Database = this.db): Promise<BalanceReading[]> {
    const rows = await tx.query<ObservationRow>(
      `SELECT o.id, o.source, o.balance, o.observed_at, o.read_started_at, o.transfer_id, NULL AS main_balance
         FROM observations o
        WHERE o.account_id = $1 AND ($2::bigint IS NULL OR o.observed_at >= (SELECT observed_at FROM observations WHERE id = $2))
          AND ($2::bigint IS NULL OR o.id <> $2)
        ORDER BY o.observed_at, o.id LIMIT $3`,
      [accountId, afterObservationId, limit],
    );
    return rows.map(toReading);
  }

  async reading(observationId: string, tx: Tx | Database = this.db): Promise<BalanceReading | null> {
    const rows = await tx.query<ObservationRow>(
      'SELECT id, source, balance, observed_at, read_started_at, transfer_id, NULL AS main_balance FROM observations WHERE id = $1', [observationId],
    );
    return rows.length ? toReading(rows[0]) : null;
  }

  /** Our calls on the sub-account whose effect may lie after `from`. */
  async movements(providerAccount: string, token: string, from: Date, tx: Tx | Database = this.db): Promise<Movement[]> {
    const rows = await tx.query<MovementRow>(
      `SELECT id, status, direction, amount, call_started_at, created_at, provider_at, updated_at, in_doubt_at, lease_expires_at
         FROM transfers
        WHERE provider_account_id = $1 AND subaccount_token = $2 AND status <> 'pending' AND attempts > 0
          AND greatest(updated_at, coalesce(in_doubt_at + make_interval(secs => $4::double precision / 1000), updated_at),
                       coalesce(lease_expires_at + make_interval(secs => $4::double precision / 1000), updated_at)) > $3
        ORDER BY seq`,
      [providerAccount, token, from, this.graceMs],
    );
    return rows.map((r) => this.toMovement(r));
  }

  private toMovement(r: MovementRow): Movement {
    const amount = Money.parse(r.amount);
    const effect = r.direction === 'add' ? amount : amount.negated();
    const from = (r.call_started_at ?? r.created_at).getTime();
    const deadline = (d: Date) => d.getTime() + this.graceMs;
    switch (r.status) {
      case 'executing':
        return { id: r.id, effect, from, to: deadline(r.lease_expires_at ?? r.updated_at), outcome: null };
      case 'in_doubt':
        return { id: r.id, effect, from, to: deadline(r.in_doubt_at ?? r.updated_at), outcome: null };
      case 'posted':
        // updated_at: the database clock when it was posted (after the answer), like every other instant here.
        return { id: r.id, effect, from, to: r.in_doubt_at ? Math.max(deadline(r.in_doubt_at), r.updated_at.getTime()) : r.updated_at.getTime(), outcome: 'applied' };
      default:
        return { id: r.id, effect, from, to: r.in_doubt_at ? deadline(r.in_doubt_at) : r.updated_at.getTime(), outcome: 'not_applied' };
    }
  }

  /**
   * The account's measured usage windows over the last `days` (at most its last 300
   * readings): the spending history the plausibility bound is learned from.
   */
  async usageWindows(providerAccount: string, token: string, accountId: string, days = 30, tx: Tx | Database = this.db, mergeUntilSeconds = 5): Promise<UsageWindow[]> {
    const rows = await tx.query<ObservationRow>(
      `SELECT * FROM (SELECT o.id, o.source, o.balance, o.observed_at, o.read_started_at, o.transfer_id, NULL AS main_balance
                        FROM observations o WHERE o.account_id = $1 AND o.observed_at > now() - make_interval(days => $2)
                       ORDER BY o.observed_at DESC, o.id DESC LIMIT 300) r ORDER BY observed_at, id`,
      [accountId, days],
    );
    if (rows.length < 2) return [];
    const readings = rows.map(toReading);
    const movements = await this.movements(providerAccount, token, new Date(readings[0].from), tx);
    return measuredWindows(readings, movements, mergeUntilSeconds);
  }

  async evidenceOfMany(transferIds: string[]): Promise<Map<string, EvidenceJson>> {
    if (!transferIds.length) return new Map();
    const rows = await this.db.query<{ transfer_id: string; evidence: EvidenceJson }>('SELECT transfer_id, evidence FROM transfer_evidence WHERE transfer_id = ANY($1::uuid[])', [transferIds]);
    return new Map(rows.map((r) => [r.transfer_id, r.evidence]));
  }

  async evidenceOf(transferId: string): Promise<EvidenceJson | null> {
    const rows = await this.db.query<{ evidence: EvidenceJson }>('SELECT evidence FROM transfer_evidence WHERE transfer_id = $1', [transferId]);
    return rows.length ? rows[0].evidence : null;
  }
}

function toReading(r: ObservationRow): BalanceReading {
  return {
    id: r.id, source: r.source, from: (r.read_started_at ?? r.observed_at).getTime(), at: r.observed_at.getTime(),
    balance: Money.parse(r.balance), mainBalance: r.main_balance === null ? null : Money.parse(r.main_balance),
    afterMovement: r.source === 'transfer' ? r.transfer_id : null,
  };
}
