import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { Money } from '@app/ledger';
import { Database, Prisma, Queryable, Tx } from '@app/persistence';
import { TransfersRepository } from '@app/transfers';
import { PolicyFields, TOPUP_ACTOR, TopupMode, TopupPolicy, TopupRunStatus } from './domain/policy';

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

function policyFromModel(m: Prisma.TopupPolicyGetPayload<object>): TopupPolicy {
  const money = (v: Prisma.Decimal | null) => (v === null ? null : Money.parse(v.toFixed()));
  return {
    id: m.id, providerAccount: m.providerAccountId, subaccount: m.subaccountToken, mode: m.mode as TopupMode, amount: money(m.amount), target: money(m.target),
    cap: money(m.cap), schedule: m.schedule, timezone: m.timezone, enabled: m.enabled, effectiveFrom: m.effectiveFrom, createdBy: m.createdBy,
    updatedBy: m.updatedBy, createdAt: m.createdAt, updatedAt: m.updatedAt, deletedAt: m.deletedAt,
  };
}

/** The stored form of a policy's checked fields. */
function policyColumns(f: PolicyFields) {
  return {
    subaccountToken: f.subaccount, mode: f.mode, amount: f.amount?.toFixed() ?? null, target: f.target?.toFixed() ?? null, cap: f.cap?.toFixed() ?? null,
    schedule: f.schedule, timezone: f.timezone, enabled: f.enabled,
  };
}

export interface NewTopupRun {
  policy: TopupPolicy; key: string; due: Date; observed: Money | null; status: TopupRunStatus; amount: Money | null; explanation: string;
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
  explanation: string; observed_balance: string | null; actor: string; created_at: Date; transfer_id: string | null;
}

function toRun(r: RunRow, transfer: TopupRun['transfer']): TopupRun {
  return {
    id: r.id, seq: r.seq, policyId: r.policy_id, period: r.period_key, scheduledFor: r.scheduled_for, status: r.status, mode: r.mode,
    amount: r.amount === null ? null : Money.parse(r.amount), explanation: r.explanation,
    observedBalance: r.observed_balance === null ? null : Money.parse(r.observed_balance), actor: r.actor, createdAt: r.created_at, transfer,
  };
}

export interface PolicyListQuery { limit: number; cursor?: string; includeDeleted?: boolean; subaccount?: string }
export interface RunListQuery { limit: number; cursor?: string; policy?: string; period?: string; status?: TopupRunStatus }


/**
 * Top-up policies and their runs: the one place their SQL lives. Writes take the caller's
 * transaction. A run's transfer is read through the transfers library's repository.
 */
export class TopupsRepository {
  constructor(private readonly db: Database, private readonly transfers: TransfersRepository) {}

  async getPolicy(providerAccount: string, id: string): Promise<TopupPolicy> {
    const m = await this.db.prisma.topupPolicy.findFirst({ where: { providerAccountId: providerAccount, id } });
    if (!m) throw notFound(id);
    return policyFromModel(m);
  }

  /** The policy, its row locked until the end of the caller's transaction. */
  async lockPolicy(tx: Tx, providerAccount: string, id: string): Promise<TopupPolicy> {
    const [row] = await tx.query<PolicyRow>('SELECT * FROM topup_policies WHERE provider_account_id = $1 AND id = $2 FOR UPDATE', [providerAccount, id]);
    if (!row) throw notFound(id);
    return toPolicy(row);
  }

  async insertPolicy(tx: Tx, p: { id: string; providerAccount: string; fields: PolicyFields; effectiveFrom: Date; actor: string }): Promise<TopupPolicy> {
    const m = await tx.prisma.topupPolicy.create({
      data: { id: p.id, providerAccountId: p.providerAccount, ...policyColumns(p.fields), effectiveFrom: p.effectiveFrom, createdBy: p.actor, updatedBy: p.actor },
    });
    return policyFromModel(m);
  }

  /** New fields; `restartFrom` (if given) becomes the policy's effective start. */
  async updatePolicy(tx: Tx, id: string, fields: PolicyFields, restartFrom: Date | null, actor: string): Promise<TopupPolicy> {
    const m = await tx.prisma.topupPolicy.update({
      where: { id }, data: { ...policyColumns(fields), ...(restartFrom ? { effectiveFrom: restartFrom } : {}), updatedBy: actor },
    });
    return policyFromModel(m);
  }

  /** Soft delete: disabled, and the database refuses any later change. */
  async deletePolicy(tx: Tx, id: string, at: Date, actor: string): Promise<TopupPolicy> {
    return policyFromModel(await tx.prisma.topupPolicy.update({ where: { id }, data: { deletedAt: at, enabled: false, updatedBy: actor } }));
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
    const rows = await this.db.prisma.topupPolicy.findMany({ where: { providerAccountId: providerAccount, enabled: true, deletedAt: null }, orderBy: { id: 'asc' } });
    return rows.map(policyFromModel);
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
              r.actor, r.created_at, r.transfer_id
         FROM topup_runs r
        WHERE r.provider_account_id = $1
          AND ($2::uuid IS NULL OR r.policy_id = $2)
          AND ($3::text IS NULL OR starts_with(r.period_key, $3))
          AND ($4::text IS NULL OR r.status = $4)
          AND ($5::bigint IS NULL OR r.seq < $5)
        ORDER BY r.seq DESC LIMIT $6`,
      [providerAccount, q.policy ?? null, q.period ?? null, q.status ?? null, after, fetchSize(q.limit)],
    );
    const transfers = await this.transfers.summaries(providerAccount, rows.flatMap((r) => (r.transfer_id ? [r.transfer_id] : [])));
    return pageOf(rows, q.limit, (last) => Cursors.sequence.encode(last.seq), (r) => toRun(r, r.transfer_id ? transfers.get(r.transfer_id) ?? null : null));
  }

  async hasRun(q: Queryable, policyId: string, key: string): Promise<boolean> {
    return (await q.prisma.topupRun.count({ where: { policyId, periodKey: key }, take: 1 })) > 0;
  }

  /** When the policy's latest run was scheduled (null: never ran). */
  async lastScheduledFor(tx: Tx, policyId: string): Promise<Date | null> {
    const { _max } = await tx.prisma.topupRun.aggregate({ where: { policyId }, _max: { scheduledFor: true } });
    return _max.scheduledFor;
  }

  /** Inserts a run; with `ignoreExisting`, a run of that period already there is left alone (null). */
  async insertRun(tx: Tx, id: string, r: NewTopupRun, ignoreExisting = false): Promise<string | null> {
    const rows = await tx.query<{ id: string }>(
      `INSERT INTO topup_runs (id, policy_id, provider_account_id, period_key, scheduled_for, status, mode, amount, explanation, observed_balance, actor)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ${ignoreExisting ? 'ON CONFLICT ON CONSTRAINT topup_runs_one_per_period DO NOTHING' : ''} RETURNING id`,
      [id, r.policy.id, r.policy.providerAccount, r.key, r.due, r.status, r.policy.mode, r.amount?.toFixed() ?? null, r.explanation,
        r.observed?.toFixed() ?? null, TOPUP_ACTOR],
    );
    return rows.length ? rows[0].id : null;
  }

  async setRunTransfer(tx: Tx, runId: string, transferId: string): Promise<void> {
    await tx.prisma.topupRun.update({ where: { id: runId }, data: { transferId } });
  }
}

function notFound(id: string): DomainError {
  return new DomainError('policy_not_found', `top-up policy ${id} does not exist`);
}
