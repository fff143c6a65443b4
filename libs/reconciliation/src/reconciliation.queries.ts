import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { Money } from '@app/ledger';
import { Database, Tx } from '@app/persistence';
import {
  FindingResolutionKind, FindingStatus, ItemStatus, ObservationSource, RunStatus, RunTrigger, Suggestion,
} from './domain/reconciliation';

/** Views: money as 3-decimal strings, instants as ISO 8601 UTC strings (the HTTP contract). */
export interface RunSummary {
  accounts: number; matched: number; drifted: number; unsettled: number; resolvedInDoubt: number;
  /** Negative sub-account drifts booked as usage by the RECONCILE_AUTO_BOOK_USAGE policy. */
  autoBooked: number;
  /** Sub-accounts the provider listed that the ledger does not know (import them). */
  unknownSubaccounts: number;
}

export interface RunView {
  id: string;
  providerAccount: string;
  status: RunStatus;
  trigger: RunTrigger;
  actor: string;
  tolerance: string;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  /** When the provider was read: every observation of the run lies in this window. */
  window: { from: string | null; to: string | null };
  summary: RunSummary;
}

export interface ItemView {
  account: string;
  source: ObservationSource;
  expected: string;
  observed: string;
  drift: string;
  /** Part of the drift explained by in-doubt transfers this run resolved as applied. */
  explained: string;
  status: ItemStatus;
  explanation: string | null;
  observedAt: string | null;
  observationId: string | null;
  findingId: string | null;
  /** The usage booked for this account by the auto-book policy, if any. */
  ledgerTransactionId: string | null;
}

export interface RunDetail extends RunView { items: ItemView[] }

export interface FindingView {
  id: string;
  account: string;
  drift: string;
  observed: string;
  expected: string;
  firstSeenAt: string;
  lastSeenAt: string;
  status: FindingStatus;
  suggestion: Suggestion;
  firstRunId: string;
  lastRunId: string;
  resolution: null | { as: FindingResolutionKind; by: string; reason: string | null; at: string; ledgerTransactionId: string | null };
}

export interface ReportRow {
  account: string; source: ObservationSource; observedAt: string | null; expected: string; observed: string; drift: string;
  status: ItemStatus; explanation: string | null;
}

export interface ReconciliationReport {
  run: RunView;
  /** Where the observations came from (`me`, `list`). */
  sources: ObservationSource[];
  rows: ReportRow[];
  totals: { expected: string; observed: string; drift: string } & Omit<RunSummary, 'autoBooked' | 'unknownSubaccounts'>;
}

export interface Page<T> { data: T[]; nextCursor: string | null }

export interface RunRow {
  id: string; provider_account_id: string; status: RunStatus; trigger: RunTrigger; actor: string; tolerance: string;
  started_at: Date; read_started_at: Date | null; read_finished_at: Date | null; finished_at: Date | null; error: string | null;
  accounts: number; matched: number; drifted: number; unsettled: number; resolved_in_doubt: number; auto_booked: number;
  unknown_subaccounts: number;
}

export interface FindingRow {
  id: string; provider_account_id: string; account_id: string; account_code: string; status: FindingStatus; drift: string;
  observed: string; expected: string; suggestion: Suggestion; first_seen_at: Date; last_seen_at: Date; first_run_id: string;
  last_run_id: string; resolution_kind: FindingResolutionKind | null; resolution_by: string | null; resolution_reason: string | null;
  resolved_at: Date | null; resolution_ledger_transaction_id: string | null;
}

interface ItemRow {
  account_code: string; source: ObservationSource; expected: string; observed: string; drift: string; explained: string;
  status: ItemStatus; explanation: string | null; observed_at: Date | null; observation_id: string | null; finding_id: string | null;
  ledger_transaction_id: string | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const money = (v: string): string => Money.parse(v).toFixed();

export function toRunView(r: RunRow): RunView {
  return {
    id: r.id, providerAccount: r.provider_account_id, status: r.status, trigger: r.trigger, actor: r.actor,
    tolerance: money(r.tolerance), startedAt: r.started_at.toISOString(), finishedAt: iso(r.finished_at), error: r.error,
    window: { from: iso(r.read_started_at), to: iso(r.read_finished_at) },
    summary: {
      accounts: r.accounts, matched: r.matched, drifted: r.drifted, unsettled: r.unsettled, resolvedInDoubt: r.resolved_in_doubt,
      autoBooked: r.auto_booked, unknownSubaccounts: r.unknown_subaccounts,
    },
  };
}

export function toFindingView(r: FindingRow): FindingView {
  return {
    id: r.id, account: r.account_code, drift: money(r.drift), observed: money(r.observed), expected: money(r.expected),
    firstSeenAt: r.first_seen_at.toISOString(), lastSeenAt: r.last_seen_at.toISOString(), status: r.status, suggestion: r.suggestion,
    firstRunId: r.first_run_id, lastRunId: r.last_run_id,
    resolution: r.resolution_kind
      ? { as: r.resolution_kind, by: r.resolution_by!, reason: r.resolution_reason, at: r.resolved_at!.toISOString(), ledgerTransactionId: r.resolution_ledger_transaction_id }
      : null,
  };
}

function toItemView(r: ItemRow): ItemView {
  return {
    account: r.account_code, source: r.source, expected: money(r.expected), observed: money(r.observed), drift: money(r.drift),
    explained: money(r.explained), status: r.status, explanation: r.explanation, observedAt: iso(r.observed_at),
    observationId: r.observation_id, findingId: r.finding_id, ledgerTransactionId: r.ledger_transaction_id,
  };
}

/** Keyset cursor over (instant, id), microsecond-exact: Cursors.instantId (libs/common). */
function decodeCursor(cursor: string | undefined): { micros: string; id: string } | null {
  return cursor === undefined ? null : Cursors.instantId.decode(cursor);
}
function checkLimit(limit: number | undefined): number {
  const l = limit ?? 50;
  if (!Number.isInteger(l) || l < 1 || l > 500) throw new DomainError('validation_failed', 'limit must be an integer between 1 and 500');
  return l;
}

const ITEMS_SQL = `
  SELECT i.account_code, i.source, i.expected, i.observed, i.drift, i.explained, i.status, i.explanation,
         o.observed_at, i.observation_id::text, i.finding_id, i.ledger_transaction_id
    FROM reconciliation_items i LEFT JOIN observations o ON o.id = i.observation_id
   WHERE i.run_id = $1
   ORDER BY i.account_code <> 'main', i.account_code`;

/** Read side of reconciliation: runs with their items, reports, drift findings. */
export class ReconciliationQueries {
  constructor(private readonly db: Database) {}

  async listRuns(providerAccount: string, opts: { limit?: number; cursor?: string; status?: RunStatus } = {}): Promise<Page<RunView>> {
    const limit = checkLimit(opts.limit);
    const c = decodeCursor(opts.cursor);
    const rows = await this.db.query<RunRow & { micros: string }>(
      `SELECT *, (extract(epoch FROM started_at) * 1000000)::bigint::text AS micros FROM reconciliation_runs
        WHERE provider_account_id = $1 AND ($2::text IS NULL OR status = $2)
          AND ($3::bigint IS NULL OR (started_at, id) < ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::uuid))
        ORDER BY started_at DESC, id DESC LIMIT $5`,
      [providerAccount, opts.status ?? null, c?.micros ?? null, c?.id ?? null, fetchSize(limit)],
    );
    return pageOf(rows, limit, (last) => Cursors.instantId.encode({ micros: last.micros, id: last.id }), toRunView);
  }

  /** The run without its items. */
  async getRunView(providerAccount: string, id: string): Promise<RunView> {
    return toRunView(await runRow(this.db, providerAccount, id));
  }

  async getRun(providerAccount: string, id: string): Promise<RunDetail> {
    const run = await runRow(this.db, providerAccount, id);
    const items = await this.db.query<ItemRow>(ITEMS_SQL, [id]);
    return { ...toRunView(run), items: items.map(toItemView) };
  }

  /** Per account expected, observed, drift, status, explanation; totals; the run's window and sources. */
  async report(providerAccount: string, id: string): Promise<ReconciliationReport> {
    const detail = await this.getRun(providerAccount, id);
    const { items, ...run } = detail;
    const sum = (f: (i: ItemView) => string) => Money.sum(items.map((i) => Money.parse(f(i)))).toFixed();
    return {
      run,
      sources: [...new Set(items.map((i) => i.source))],
      rows: items.map((i) => ({
        account: i.account, source: i.source, observedAt: i.observedAt, expected: i.expected, observed: i.observed, drift: i.drift,
        status: i.status, explanation: i.explanation,
      })),
      totals: {
        expected: sum((i) => i.expected), observed: sum((i) => i.observed), drift: sum((i) => i.drift),
        accounts: run.summary.accounts, matched: run.summary.matched, drifted: run.summary.drifted,
        unsettled: run.summary.unsettled, resolvedInDoubt: run.summary.resolvedInDoubt,
      },
    };
  }

  async listFindings(providerAccount: string, opts: { status?: FindingStatus; account?: string; limit?: number; cursor?: string } = {}): Promise<Page<FindingView>> {
    const limit = checkLimit(opts.limit);
    const c = decodeCursor(opts.cursor);
    const rows = await this.db.query<FindingRow & { micros: string }>(
      `SELECT *, (extract(epoch FROM last_seen_at) * 1000000)::bigint::text AS micros FROM drift_findings
        WHERE provider_account_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR account_code = $3)
          AND ($4::bigint IS NULL OR (last_seen_at, id) < ('epoch'::timestamptz + $4::bigint * interval '1 microsecond', $5::uuid))
        ORDER BY last_seen_at DESC, id DESC LIMIT $6`,
      [providerAccount, opts.status ?? null, opts.account ?? null, c?.micros ?? null, c?.id ?? null, fetchSize(limit)],
    );
    return pageOf(rows, limit, (last) => Cursors.instantId.encode({ micros: last.micros, id: last.id }), toFindingView);
  }

  async getFinding(providerAccount: string, id: string): Promise<FindingView> {
    const rows = isUuid(id)
      ? await this.db.query<FindingRow>('SELECT * FROM drift_findings WHERE id = $1 AND provider_account_id = $2', [id, providerAccount])
      : [];
    if (!rows.length) throw new DomainError('drift_not_found', `drift finding ${id} does not exist`);
    return toFindingView(rows[0]);
  }
}

export function isUuid(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}

export async function runRow(tx: Tx | Database, providerAccount: string, id: string, lock = false): Promise<RunRow> {
  const rows = isUuid(id)
    ? await tx.query<RunRow>(`SELECT * FROM reconciliation_runs WHERE id = $1 AND provider_account_id = $2${lock ? ' FOR UPDATE' : ''}`, [id, providerAccount])
    : [];
  if (!rows.length) throw new DomainError('reconciliation_not_found', `reconciliation run ${id} does not exist`);
  return rows[0];
}
