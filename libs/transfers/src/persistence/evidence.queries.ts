import { Money } from '@app/ledger';
import { Database, ObservationsRepository, Tx } from '@app/persistence';
import { BalanceReading, Movement, ReadingSource, Verdict } from '../domain/evidence';
import { measuredWindows, UsageWindow } from '../domain/spending-history';

interface ObservationRow { id: string; source: ReadingSource; balance: string; observed_at: Date; read_started_at: Date | null; transfer_id: string | null; main_balance: string | null }

interface MovementRow {
  id: string; status: string; direction: 'add' | 'remove'; amount: string; call_started_at: Date | null; created_at: Date;
  provider_at: Date | null; updated_at: Date; in_doubt_at: Date | null; lease_expires_at: Date | null;
  applied_within: EvidenceJson['appliedWithin'] | null;
}

/** One in-doubt transfer as the worker's evidence task sees it (what it read and evaluated last). */
export interface InDoubtRow {
  id: string; token: string; account_id: string; in_doubt_at: Date; db_now: Date;
  last_read: Date | null; last_obs: string | null; evaluated_obs: string | null; evaluated_at: Date | null;
  /** Decided or not, the last change of any transfer of the sub-account (a neighbour settled: evaluate again). */
  changed_at: Date | null;
}

/** What the worker needs to know before calling the provider for a transfer (a fresh reading?). */
export interface BeforeCallRow { token: string; due: boolean; busy: boolean; last_read: Date | null; db_now: Date }

/** The `evidence` of the transfer view (GET /v1/transfers/:id): what an operator sees. */
export interface EvidenceJson {
  status: 'undecided' | 'decided';
  outcome: 'applied' | 'not_applied' | null;
  summary: string;
  readings: Array<{ source: ReadingSource; at: string; subaccountBalance: string | null; mainBalance: string | null }>;
  hypotheses: Array<{ outcome: 'applied' | 'not_applied'; refuted: boolean; needs: string; why: string | null }>;
  assumptions: string[];
  suggestion: string | null;
  /** Decided "applied": the readings its effect was pinned between (later evaluations use it). */
  appliedWithin?: { from: string; to: string; afterReading: string | null; beforeReading: string | null } | null;
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
    appliedWithin: v.appliedWithin ? {
      from: new Date(v.appliedWithin.from).toISOString(), to: new Date(v.appliedWithin.to).toISOString(),
      afterReading: v.appliedWithin.afterReading, beforeReading: v.appliedWithin.beforeReading,
    } : null,
    evaluatedAt: evaluatedAt.toISOString(),
  };
}

export interface SubaccountEvidenceTarget { token: string; accountId: string; isBuyer: boolean }

/**
 * The evidence repository: what the evidence rules read about one sub-account (its exact
 * readings — observations with the instant interval they were taken in — and our calls on it
 * with the interval their effect lies in), the probes it stores and the evaluations it keeps
 * (`transfer_evidence`). SQL only; the rules are in domain/evidence.ts.
 */
export class EvidenceQueries {
  private readonly observations = new ObservationsRepository();

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
      `SELECT t.id, t.status, t.direction, t.amount, t.call_started_at, t.created_at, t.provider_at, t.updated_at, t.in_doubt_at, t.lease_expires_at,
              CASE WHEN t.status = 'posted' AND e.status = 'decided' THEN e.evidence->'appliedWithin' END AS applied_within
         FROM transfers t LEFT JOIN transfer_evidence e ON e.transfer_id = t.id
        WHERE t.provider_account_id = $1 AND t.subaccount_token = $2 AND t.status <> 'pending' AND t.attempts > 0
          AND greatest(t.updated_at, coalesce(t.in_doubt_at + make_interval(secs => $4::double precision / 1000), t.updated_at),
                       coalesce(t.lease_expires_at + make_interval(secs => $4::double precision / 1000), t.updated_at)) > $3
        ORDER BY t.seq`,
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
      case 'posted': {
        // updated_at: the database clock when it was posted (after the answer), like every other instant here.
        const to = r.in_doubt_at ? Math.max(deadline(r.in_doubt_at), r.updated_at.getTime()) : r.updated_at.getTime();
        const w = r.applied_within;
        // Settled by evidence: its effect was pinned between two readings (docs/in-doubt.md, "Cascade").
        if (w) return { id: r.id, effect, from: Math.max(from, Date.parse(w.from)), to: Math.min(to, Date.parse(w.to)), outcome: 'applied', afterReading: w.afterReading, beforeReading: w.beforeReading };
        return { id: r.id, effect, from, to, outcome: 'applied' };
      }
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

  /**
   * The readings one evaluation of the sub-account uses: its spending history (the last 300
   * readings of the last `days`) and everything from the last reading at or before `since`.
   */
  async evidenceReadings(accountId: string, since: Date, days = 30, tx: Tx | Database = this.db): Promise<BalanceReading[]> {
    const history = await tx.query<ObservationRow>(
      `SELECT o.id, o.source, o.balance, o.observed_at, o.read_started_at, o.transfer_id, NULL AS main_balance
         FROM observations o WHERE o.account_id = $1 AND o.observed_at > now() - make_interval(days => $2)
        ORDER BY o.observed_at DESC, o.id DESC LIMIT 300`,
      [accountId, days],
    );
    const bracket = await this.readings(accountId, since, 200, tx);
    const byId = new Map(history.map(toReading).map((r) => [r.id, r]));
    for (const r of bracket) byId.set(r.id, r);
    return [...byId.values()].sort((a, b) => a.at - b.at || a.from - b.from);
  }

  /** The in-doubt transfers of the provider account, with what was read and evaluated last. */
  async inDoubt(providerAccount: string): Promise<InDoubtRow[]> {
    return this.db.query<InDoubtRow>(
      `SELECT t.id, t.subaccount_token AS token, s.account_id, coalesce(t.in_doubt_at, t.updated_at) AS in_doubt_at, clock_timestamp() AS db_now,
              r.last_read, r.last_obs, e.last_observation_id AS evaluated_obs, e.evaluated_at,
              (SELECT max(c.updated_at) FROM transfers c WHERE c.provider_account_id = t.provider_account_id AND c.subaccount_token = t.subaccount_token) AS changed_at
         FROM transfers t
         JOIN subaccounts s ON s.provider_account_id = t.provider_account_id AND s.token = t.subaccount_token
         LEFT JOIN transfer_evidence e ON e.transfer_id = t.id
         LEFT JOIN LATERAL (SELECT max(coalesce(o.read_started_at, o.observed_at)) AS last_read, max(o.id)::text AS last_obs
                              FROM observations o WHERE o.account_id = s.account_id) r ON true
        WHERE t.provider_account_id = $1 AND t.status = 'in_doubt' ORDER BY t.seq LIMIT 1000`,
      [providerAccount],
    );
  }

  /** The in-doubt transfers of one sub-account, in recording order. */
  async openInDoubt(providerAccount: string, token: string): Promise<Array<{ id: string; since: Date }>> {
    return this.db.query<{ id: string; since: Date }>(
      `SELECT id, coalesce(call_started_at, created_at) AS since FROM transfers
        WHERE provider_account_id = $1 AND subaccount_token = $2 AND status = 'in_doubt' ORDER BY seq`,
      [providerAccount, token],
    );
  }

  /**
   * Before these transfers' calls, by transfer id: each one's sub-account, whether it is due
   * now and free, and when its sub-account was last read (one statement for the calls that
   * start together). Found by id alone (one primary-key probe each, whatever the statistics
   * say), then kept when of this provider account (`ours`, as the claims do): on tables never
   * analyzed the planner walked every sub-account of the provider account instead, ~7 ms per
   * call (docs/benchmarks.md, "Issue 16, sixth pass").
   */
  async beforeCall(providerAccount: string, transferIds: string[]): Promise<Map<string, BeforeCallRow>> {
    const rows = await this.db.query<BeforeCallRow & { id: string; ours: boolean }>(
      `SELECT t.id, t.provider_account_id = $2::text AS ours, t.subaccount_token AS token, t.status = 'pending' AND t.next_attempt_at <= now() AS due,
              EXISTS (SELECT 1 FROM transfers x WHERE x.provider_account_id = t.provider_account_id AND x.subaccount_token = t.subaccount_token
                        AND x.status = 'executing') AS busy,
              (SELECT max(o.observed_at) FROM observations o
                WHERE o.account_id = (SELECT s.account_id FROM subaccounts s WHERE s.provider_account_id = t.provider_account_id AND s.token = t.subaccount_token)) AS last_read,
              clock_timestamp() AS db_now
         FROM transfers t WHERE t.id = ANY($1::uuid[])`,
      [transferIds, providerAccount],
    );
    return new Map(rows.filter((r) => r.ours).map(({ id, ours: _, ...row }) => [id, row]));
  }

  async clock(): Promise<Date> {
    const [{ now }] = await this.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    return now;
  }

  /** Stores probe readings (`probe` observations) taken in [startedAt, now], with the ledger's posted balance at that point. */
  async storeProbes(providerAccount: string, balances: Array<{ token: string; balance: Money }>, startedAt: Date): Promise<void> {
    await this.observations.recordProbes(this.db, providerAccount, balances, startedAt);
  }

  /** Keeps an evaluation; a decided one is final (the row is then never updated again). */
  async storeEvidence(tx: Tx | Database, providerAccount: string, transferId: string, json: EvidenceJson, lastObservationId: string | null): Promise<void> {
    await tx.query(
      `INSERT INTO transfer_evidence (transfer_id, provider_account_id, status, outcome, evidence, last_observation_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (transfer_id) DO UPDATE SET status = EXCLUDED.status, outcome = EXCLUDED.outcome, evidence = EXCLUDED.evidence,
              last_observation_id = EXCLUDED.last_observation_id, evaluated_at = clock_timestamp()
        WHERE transfer_evidence.status = 'undecided'`,
      [transferId, providerAccount, json.status, json.outcome, JSON.stringify(json), lastObservationId],
    );
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
