import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { Money } from '@app/ledger';
import { Database, Tx } from '@app/persistence';
import { TopupMode, TopupPolicy, TopupRunStatus } from './domain/policy';

export interface PolicyRow {
  id: string;
  provider_account_id: string;
  subaccount_token: string;
  mode: TopupMode;
  amount: string | null;
  target: string | null;
  cap: string | null;
  schedule: string;
  timezone: string;
  enabled: boolean;
  effective_from: Date;
  created_by: string;
  updated_by: string;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export function toPolicy(r: PolicyRow): TopupPolicy {
  const money = (v: string | null) => (v === null ? null : Money.parse(v));
  return {
    id: r.id, providerAccount: r.provider_account_id, subaccount: r.subaccount_token, mode: r.mode, amount: money(r.amount), target: money(r.target),
    cap: money(r.cap), schedule: r.schedule, timezone: r.timezone, enabled: r.enabled, effectiveFrom: r.effective_from, createdBy: r.created_by,
    updatedBy: r.updated_by, createdAt: r.created_at, updatedAt: r.updated_at, deletedAt: r.deleted_at,
  };
}

export interface TopupRun {
  id: string;
  seq: string;
  policyId: string;
  period: string;
  scheduledFor: Date;
  status: TopupRunStatus;
  mode: TopupMode;
  amount: Money | null;
  explanation: string;
  observedBalance: Money | null;
  actor: string;
  createdAt: Date;
  transfer: { id: string; status: string; amount: Money; updatedAt: Date } | null;
}

interface RunRow {
  id: string; seq: string; policy_id: string; period_key: string; scheduled_for: Date; status: TopupRunStatus; mode: TopupMode; amount: string | null;
  explanation: string; observed_balance: string | null; actor: string; created_at: Date;
  transfer_id: string | null; transfer_status: string | null; transfer_amount: string | null; transfer_updated_at: Date | null;
}

function toRun(r: RunRow): TopupRun {
  return {
    id: r.id, seq: r.seq, policyId: r.policy_id, period: r.period_key, scheduledFor: r.scheduled_for, status: r.status, mode: r.mode,
    amount: r.amount === null ? null : Money.parse(r.amount), explanation: r.explanation,
    observedBalance: r.observed_balance === null ? null : Money.parse(r.observed_balance), actor: r.actor, createdAt: r.created_at,
    transfer: r.transfer_id ? { id: r.transfer_id, status: r.transfer_status!, amount: Money.parse(r.transfer_amount!), updatedAt: r.transfer_updated_at! } : null,
  };
}

export interface PolicyListQuery { limit: number; cursor?: string; includeDeleted?: boolean; subaccount?: string }
export interface RunListQuery { limit: number; cursor?: string; policy?: string; period?: string; status?: TopupRunStatus }


/** Reads of policies and runs (the API's lists and the scheduler's candidates). */
export class TopupsQueries {
  constructor(private readonly db: Database) {}

  async getPolicy(providerAccount: string, id: string, q: Database | Tx = this.db, lock = false): Promise<TopupPolicy> {
    const [row] = await q.query<PolicyRow>(
      `SELECT * FROM topup_policies WHERE provider_account_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
      [providerAccount, id],
    );
    if (!row) throw new DomainError('policy_not_found', `top-up policy ${id} does not exist`);
    return toPolicy(row);
  }

  /** Oldest first; the cursor is the id of the last policy of the previous page. */
  async listPolicies(providerAccount: string, q: PolicyListQuery): Promise<{ data: TopupPolicy[]; nextCursor: string | null }> {
    const after = q.cursor === undefined ? null : Cursors.uuid.decode(q.cursor);
    const rows = await this.db.query<PolicyRow>(
      `SELECT * FROM topup_policies p
        WHERE p.provider_account_id = $1
          AND ($2::boolean OR p.deleted_at IS NULL)
          AND ($3::text IS NULL OR p.subaccount_token = $3)
          AND ($4::uuid IS NULL OR (p.created_at, p.id) > (SELECT created_at, id FROM topup_policies WHERE id = $4))
        ORDER BY p.created_at, p.id LIMIT $5`,
      [providerAccount, q.includeDeleted ?? false, q.subaccount ?? null, after, fetchSize(q.limit)],
    );
    return pageOf(rows, q.limit, (last) => Cursors.uuid.encode(last.id), toPolicy);
  }

  /** The policies the scheduler considers: enabled and not deleted. */
  async activePolicies(providerAccount: string): Promise<TopupPolicy[]> {
    const rows = await this.db.query<PolicyRow>(
      'SELECT * FROM topup_policies WHERE provider_account_id = $1 AND enabled AND deleted_at IS NULL ORDER BY id',
      [providerAccount],
    );
    return rows.map(toPolicy);
  }

  /**
   * Newest first (cursor: the `seq` of the last run of the previous page). `period` matches
   * a period key or its beginning: `2026-12` lists every run scheduled in December 2026
   * (local time of the policy's zone).
   */
  async listRuns(providerAccount: string, q: RunListQuery): Promise<{ data: TopupRun[]; nextCursor: string | null }> {
    const after = q.cursor === undefined ? null : Cursors.sequence.decode(q.cursor);
    const rows = await this.db.query<RunRow>(
      `SELECT r.id, r.seq::text AS seq, r.policy_id, r.period_key, r.scheduled_for, r.status, r.mode, r.amount, r.explanation, r.observed_balance,
              r.actor, r.created_at, r.transfer_id, t.status AS transfer_status, t.amount AS transfer_amount, t.updated_at AS transfer_updated_at
         FROM topup_runs r LEFT JOIN transfers t ON t.id = r.transfer_id
        WHERE r.provider_account_id = $1
          AND ($2::uuid IS NULL OR r.policy_id = $2)
          AND ($3::text IS NULL OR starts_with(r.period_key, $3))
          AND ($4::text IS NULL OR r.status = $4)
          AND ($5::bigint IS NULL OR r.seq < $5)
        ORDER BY r.seq DESC LIMIT $6`,
      [providerAccount, q.policy ?? null, q.period ?? null, q.status ?? null, after, fetchSize(q.limit)],
    );
    return pageOf(rows, q.limit, (last) => Cursors.sequence.encode(last.seq), toRun);
  }
}
