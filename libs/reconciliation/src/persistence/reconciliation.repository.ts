import { Money, subaccountTokenOf } from '@app/ledger';
import { appendJournal, appendJournalMany, Database, ObservationsRepository, pgCode, pgConstraint, PgError, Tx } from '@app/persistence';
import { AccountVerdict, ComparedAccount, LedgerBalance } from '../domain/evaluate-run';
import { FindingResolutionKind, ItemStatus, RECONCILIATION_ACTOR, RunStatus, RunTrigger } from '../domain/reconciliation';
import { FindingRow, RunSummary, runRow } from '../reconciliation.queries';

export type StartOutcome =
  | { kind: 'started'; startedAt: Date }
  | { kind: 'no_provider_account' }
  /** Another run is running (its id when known; null when the unique index caught the race). */
  | { kind: 'already_running'; runId: string | null };

/** A finding to close, as the journal names it. */
export interface FindingRef { id: string; account: string }

/**
 * The SQL of reconciliation's own tables: runs and their lock, observations of a run's
 * reading, items, drift findings and the journal entries that go with them. Methods that
 * take a `tx` write in the caller's transaction; the others open their own. Every bulk write
 * is one statement over arrays (`unnest`), whatever the number of accounts.
 */
export class ReconciliationRepository {
  private readonly observations = new ObservationsRepository();

  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async now(): Promise<Date> {
    const [{ now }] = await this.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    return now;
  }

  // ------------------------------------------------------------------ runs

  /**
   * Inserts the `running` row. Serialised with drift resolutions by the provider account row
   * (FOR NO KEY UPDATE here, FOR SHARE there). A run running longer than `staleAfterMs` is
   * failed as abandoned first. The partial unique index `reconciliation_runs_one_running`
   * refuses a second running run, whatever the number of processes.
   */
  async startRun(run: { id: string; providerAccount: string; trigger: RunTrigger; actor: string; tolerance: Money; staleAfterMs: number }): Promise<StartOutcome> {
    try {
      return await this.db.transaction(async (tx): Promise<StartOutcome> => {
        const pa = await tx.query('SELECT id FROM provider_accounts WHERE id = $1 FOR NO KEY UPDATE', [run.providerAccount]);
        if (!pa.length) return { kind: 'no_provider_account' };
        const abandoned = await tx.query<{ id: string }>(
          `UPDATE reconciliation_runs SET status = 'failed', finished_at = clock_timestamp(), error = $3
            WHERE provider_account_id = $1 AND status = 'running' AND started_at < now() - make_interval(secs => $2::double precision / 1000)
            RETURNING id`,
          [run.providerAccount, run.staleAfterMs, `abandoned: still running after ${run.staleAfterMs} ms (its process probably died)`],
        );
        for (const a of abandoned) {
          await appendJournal(tx, { providerAccount: run.providerAccount, actor: RECONCILIATION_ACTOR, action: 'reconciliation_run.failed', entityType: 'reconciliation_run', entityId: a.id, reason: 'abandoned' });
        }
        const running = await this.runningRun(tx, run.providerAccount);
        if (running) return { kind: 'already_running', runId: running };
        const [row] = await tx.query<{ started_at: Date }>(
          `INSERT INTO reconciliation_runs (id, provider_account_id, status, trigger, actor, tolerance) VALUES ($1, $2, 'running', $3, $4, $5) RETURNING started_at`,
          [run.id, run.providerAccount, run.trigger, run.actor, run.tolerance.toFixed()],
        );
        await appendJournal(tx, { providerAccount: run.providerAccount, actor: run.actor, action: 'reconciliation_run.started', entityType: 'reconciliation_run', entityId: run.id, data: { trigger: run.trigger } });
        return { kind: 'started', startedAt: row.started_at };
      });
    } catch (err) {
      if (pgCode(err) === PgError.uniqueViolation && pgConstraint(err) === 'reconciliation_runs_one_running') return { kind: 'already_running', runId: null };
      throw err;
    }
  }

  /** The id of the provider account's running run, if any. */
  async runningRun(tx: Tx | Database, providerAccount: string): Promise<string | null> {
    const rows = await tx.query<{ id: string }>(`SELECT id FROM reconciliation_runs WHERE provider_account_id = $1 AND status = 'running'`, [providerAccount]);
    return rows.length ? rows[0].id : null;
  }

  /** Locks the run row; its status (no longer `running` when it was taken over as abandoned). */
  async lockRun(tx: Tx, providerAccount: string, runId: string): Promise<RunStatus> {
    return (await runRow(tx, providerAccount, runId, true)).status;
  }

  /** Ends a running run `failed` with its (scrubbed) reason and read window; false if it was no longer running. */
  async failRun(providerAccount: string, runId: string, reason: string, window: { from: Date | null; to: Date | null }): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const updated = await tx.query(
        `UPDATE reconciliation_runs SET status = 'failed', error = $2, finished_at = clock_timestamp(),
                read_started_at = coalesce(read_started_at, $3), read_finished_at = coalesce(read_finished_at, $4, CASE WHEN $3::timestamptz IS NOT NULL THEN greatest($3::timestamptz, clock_timestamp()) END)
          WHERE id = $1 AND status = 'running' RETURNING id`,
        [runId, reason, window.from, window.to],
      );
      if (!updated.length) return false;
      await appendJournal(tx, { providerAccount, actor: RECONCILIATION_ACTOR, action: 'reconciliation_run.failed', entityType: 'reconciliation_run', entityId: runId, reason });
      return true;
    });
  }

  async completeRun(tx: Tx, providerAccount: string, runId: string, summary: RunSummary): Promise<void> {
    await tx.query(
      `UPDATE reconciliation_runs SET status = 'completed', finished_at = clock_timestamp(), accounts = $2, matched = $3, drifted = $4,
              unsettled = $5, resolved_in_doubt = $6, auto_booked = $7, unknown_subaccounts = $8 WHERE id = $1`,
      [runId, summary.accounts, summary.matched, summary.drifted, summary.unsettled, summary.resolvedInDoubt, summary.autoBooked, summary.unknownSubaccounts],
    );
    await appendJournal(tx, { providerAccount, actor: RECONCILIATION_ACTOR, action: 'reconciliation_run.completed', entityType: 'reconciliation_run', entityId: runId, data: { summary } });
  }

  // ------------------------------------------------------------------ snapshot

  /**
   * Makes `tx` a repeatable-read snapshot (its first statement) and returns the database
   * clock: the end of the read window, and the ledger position the readings are compared at.
   */
  async beginSnapshot(tx: Tx): Promise<Date> {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    const [{ now }] = await tx.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    return now;
  }

  /** One statement: the posted balance of `main` and of every sub-account (by id: sorting 100,000 codes here costs more than the read). */
  async ledgerBalances(tx: Tx, providerAccount: string): Promise<LedgerBalance[]> {
    const rows = await tx.query<{ id: string; code: string; kind: string; posted: string }>(
      `SELECT a.id::text, a.code, a.kind, (b.debits_posted - b.credits_posted)::text AS posted
         FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
        WHERE a.provider_account_id = $1 AND a.kind IN ('main', 'subaccount')
        ORDER BY a.id`,
      [providerAccount],
    );
    return rows.map((r) => ({ accountId: r.id, code: r.code, token: r.kind === 'subaccount' ? subaccountTokenOf(r.code)! : null, posted: Money.parse(r.posted) }));
  }

  /**
   * The run's reading as observations (`me` / `list`, with the expected balance and whether
   * the account was settled), one statement; the observation id and instant of each account, by account id.
   */
  async recordReadings(tx: Tx, providerAccount: string, runId: string, window: { from: Date; to: Date }, accounts: readonly ComparedAccount[]): Promise<Map<string, { id: string; at: Date }>> {
    const observed = await this.observations.recordRunReadings(tx, providerAccount, window.from,
      accounts.map((a) => ({ accountId: a.accountId, source: a.source, balance: a.observed, expected: a.expected, settled: a.settled })));
    await tx.query('UPDATE reconciliation_runs SET read_started_at = $2, read_finished_at = $3 WHERE id = $1', [runId, window.from, window.to]);
    return observed;
  }

  // ------------------------------------------------------------------ findings and items

  /** The provider account's open findings, locked, by account id. */
  async lockOpenFindings(tx: Tx, providerAccount: string): Promise<Map<string, FindingRow>> {
    const open = await tx.query<FindingRow>(`SELECT * FROM drift_findings WHERE provider_account_id = $1 AND status = 'open' ORDER BY account_id FOR UPDATE`, [providerAccount]);
    return new Map(open.map((f) => [String(f.account_id), f]));
  }

  /** New findings with their `drift_finding.opened` entries: two statements, however many. */
  async openFindings(tx: Tx, providerAccount: string, runId: string, seenAt: Date, opened: readonly AccountVerdict[]): Promise<void> {
    if (!opened.length) return;
    const rows = opened.map((v) => ({ v, id: v.finding!.id, expected: v.account.observed.minus(v.residual) }));
    await tx.query(
      `INSERT INTO drift_findings (id, provider_account_id, account_id, account_code, status, drift, observed, expected, suggestion, first_seen_at, last_seen_at, first_run_id, last_run_id)
       SELECT f.id, $1, f.account_id, f.account_code, 'open', f.drift, f.observed, f.expected, f.suggestion, $2, $2, $3, $3
         FROM unnest($4::uuid[], $5::bigint[], $6::text[], $7::numeric[], $8::numeric[], $9::numeric[], $10::text[]) AS f(id, account_id, account_code, drift, observed, expected, suggestion)`,
      [providerAccount, seenAt, runId, rows.map((f) => f.id), rows.map((f) => f.v.account.accountId), rows.map((f) => f.v.account.code),
        rows.map((f) => f.v.residual.toFixed()), rows.map((f) => f.v.account.observed.toFixed()), rows.map((f) => f.expected.toFixed()),
        rows.map((f) => (f.v.finding as { suggestion: string }).suggestion)],
    );
    await appendJournalMany(tx, rows.map((f) => ({
      providerAccount, actor: RECONCILIATION_ACTOR, action: 'drift_finding.opened', entityType: 'drift_finding', entityId: f.id,
      data: { runId, account: f.v.account.code, drift: f.v.residual.toFixed(), observed: f.v.account.observed.toFixed(), expected: f.expected.toFixed() },
    })));
  }

  /** The accounts' open findings, seen again with the latest drift: one statement; journaled where the drift changed. */
  async updateFindings(tx: Tx, providerAccount: string, runId: string, seenAt: Date, updated: readonly AccountVerdict[]): Promise<void> {
    const rows = updated.map((v) => {
      if (v.finding?.kind !== 'update') throw new Error('updateFindings: not an update');
      return { v, f: v.finding };
    });
    if (!rows.length) return;
    await tx.query(
      `UPDATE drift_findings d SET drift = u.drift, observed = u.observed, expected = u.expected, suggestion = u.suggestion, last_seen_at = $1, last_run_id = $2
         FROM unnest($3::uuid[], $4::numeric[], $5::numeric[], $6::numeric[], $7::text[]) AS u(id, drift, observed, expected, suggestion)
        WHERE d.id = u.id`,
      [seenAt, runId, rows.map((r) => r.f.id), rows.map((r) => r.f.drift.toFixed()), rows.map((r) => r.v.account.observed.toFixed()),
        rows.map((r) => r.v.account.observed.minus(r.f.drift).toFixed()), rows.map((r) => r.f.suggestion)],
    );
    await appendJournalMany(tx, rows.filter((r) => !r.f.from.equals(r.f.drift)).map((r) => ({
      providerAccount, actor: RECONCILIATION_ACTOR, action: 'drift_finding.updated', entityType: 'drift_finding', entityId: r.f.id,
      data: { runId, account: r.v.account.code, from: r.f.from.toFixed(), drift: r.f.drift.toFixed() },
    })));
  }

  /** Closes findings whose account matches again (`self_resolved`, no booking): one statement and their journal entries. */
  async closeSelfResolved(tx: Tx, providerAccount: string, findings: readonly FindingRef[], reason: string): Promise<void> {
    if (!findings.length) return;
    await tx.query(
      `UPDATE drift_findings SET status = 'resolved', resolution_kind = 'self_resolved', resolution_by = $2, resolution_reason = $3, resolved_at = clock_timestamp(),
              resolution_ledger_transaction_id = NULL WHERE id = ANY ($1::uuid[])`,
      [findings.map((f) => f.id), RECONCILIATION_ACTOR, reason],
    );
    await appendJournalMany(tx, findings.map((f) => ({
      providerAccount, actor: RECONCILIATION_ACTOR, action: 'drift_finding.resolved_self_resolved', entityType: 'drift_finding', entityId: f.id, reason,
      data: { account: f.account, ledgerTransactionId: null },
    })));
  }

  /** Resolves an open finding (self-resolved, or by a booking) with its journal entry; the updated row. */
  async resolveFinding(tx: Tx, providerAccount: string, f: FindingRef, resolution: { as: FindingResolutionKind; by: string; reason: string; ledgerTransactionId: string | null; data?: Record<string, unknown> }): Promise<FindingRow> {
    const [row] = await tx.query<FindingRow>(
      `UPDATE drift_findings SET status = 'resolved', resolution_kind = $2, resolution_by = $3, resolution_reason = $4, resolved_at = clock_timestamp(),
              resolution_ledger_transaction_id = $5 WHERE id = $1 RETURNING *`,
      [f.id, resolution.as, resolution.by, resolution.reason, resolution.ledgerTransactionId],
    );
    await appendJournal(tx, {
      providerAccount, actor: resolution.by, action: `drift_finding.resolved_${resolution.as}`, entityType: 'drift_finding', entityId: f.id, reason: resolution.reason,
      data: { account: f.account, ...resolution.data, ledgerTransactionId: resolution.ledgerTransactionId },
    });
    return row;
  }

  /** The finding, locked, when it belongs to the provider account. */
  async lockFinding(tx: Tx, providerAccount: string, id: string): Promise<FindingRow | null> {
    const [f] = await tx.query<FindingRow>('SELECT * FROM drift_findings WHERE id = $1 AND provider_account_id = $2 FOR UPDATE', [id, providerAccount]);
    return f ?? null;
  }

  /** Takes the provider account row FOR SHARE: no run starts (FOR NO KEY UPDATE) until `tx` ends. */
  async holdOffRuns(tx: Tx, providerAccount: string): Promise<void> {
    await tx.query('SELECT id FROM provider_accounts WHERE id = $1 FOR SHARE', [providerAccount]);
  }

  /** One immutable item per compared account, one statement. */
  async recordItems(tx: Tx, runId: string, items: ReadonlyArray<{ v: AccountVerdict; observationId: string; ledgerTransactionId: string | null }>): Promise<void> {
    const col = <T>(f: (i: (typeof items)[number]) => T) => items.map(f);
    await tx.query(
      `INSERT INTO reconciliation_items (run_id, account_id, account_code, source, observation_id, expected, observed, drift, explained, status, explanation, finding_id, ledger_transaction_id)
       SELECT $1, t.* FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[],
                                  $10::text[], $11::text[], $12::uuid[], $13::uuid[]) AS t`,
      [runId, col((i) => i.v.account.accountId), col((i) => i.v.account.code), col((i) => i.v.account.source), col((i) => i.observationId),
        col((i) => i.v.account.expected.toFixed()), col((i) => i.v.account.observed.toFixed()), col((i) => i.v.account.drift.toFixed()),
        col((i) => i.v.explained.toFixed()), col((i): ItemStatus => i.v.status), col((i) => (i.v.notes.length ? i.v.notes.join('; ') : null)),
        col((i) => (i.v.finding && i.v.finding.kind !== 'close' ? i.v.finding.id : null)), col((i) => i.ledgerTransactionId)],
    );
  }
}
