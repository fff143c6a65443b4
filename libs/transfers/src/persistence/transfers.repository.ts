import { Money, TransferDirection } from '@app/ledger';
import { Database, Queryable, Tx } from '@app/persistence';
import { InDoubtBarrier } from '../domain/in-doubt-barrier';
import { Transfer, TransferStatus } from '../domain/transfer';
import { TransferFilter, TransferRow, toTransfer, transferFromModel } from './transfer-row';
import { CLAIM_CANDIDATES } from './transfer-claims.repository';

export * from './transfer-row';

/** The provider's answer as stored on the transfer (code, message, credits, redacted raw answer). */
export interface ProviderColumns { code: number | null; message: string | null; credit: string | null; subaccountCredit: string | null; raw: unknown }

/** A transfer to insert, already reserved in the ledger. */
export interface NewTransfer {
  id: string; subaccount: string; direction: TransferDirection; amount: Money; reference: string | null; metadata: Record<string, unknown> | null;
  idempotencyKey: string | null; requestHash: string | null; ledgerTransactionId: string; createdBy: string; correlationId: string | null;
}

/** A pending transfer, with what decides whether an execution may claim it now. */
export interface ClaimCandidate { transfer: Transfer; dueInMs: number; expired: boolean; blocked: boolean }

export type JobRef = { transferId: string; attempt: number };

/**
 * The transfers table: the one place its SQL lives. Writes take the caller's transaction
 * (`tx`), so the ledger and the journal change in the same one. Plain lookups go through
 * Prisma Client; the statements of the hot paths (recording, claiming, settling groups, the
 * sweeper) stay set-based SQL with their row locks, as they were in the use cases.
 */
export class TransfersRepository {
  constructor(private readonly db: Database) {}

  async get(providerAccount: string, id: string): Promise<Transfer | null> {
    const m = await this.db.prisma.transfer.findFirst({ where: { id, providerAccountId: providerAccount } });
    return m ? transferFromModel(m) : null;
  }

  /** The transfer, its row locked until the end of the caller's transaction. */
  async lock(tx: Tx, providerAccount: string, id: string): Promise<Transfer | null> {
    const [row] = await tx.query<TransferRow>('SELECT * FROM transfers WHERE id = $1 AND provider_account_id = $2 FOR UPDATE', [id, providerAccount]);
    return row ? toTransfer(row) : null;
  }

  /**
   * The transfers recorded under these keys, by key, with the hash of the request each stands
   * for: one unique-index probe per key (LATERAL … LIMIT 1 is never made a join), whatever the
   * statistics say (docs/benchmarks.md, "Issue 16, ninth pass").
   */
  async byIdempotencyKeys(tx: Tx, providerAccount: string, keys: string[]): Promise<Map<string, { transfer: Transfer; requestHash: string }>> {
    if (!keys.length) return new Map();
    const rows = await tx.query<TransferRow>(
      `SELECT t.* FROM unnest($2::text[]) AS k(key)
         CROSS JOIN LATERAL (SELECT * FROM transfers x WHERE x.provider_account_id = $1 AND x.idempotency_key = k.key LIMIT 1) t`,
      [providerAccount, [...new Set(keys)]],
    );
    return new Map(rows.map((r) => [r.idempotency_key!, { transfer: toTransfer(r), requestHash: r.request_hash! }]));
  }

  /**
   * Newest first. SQL rather than Prisma's `contains`: the reference search escapes LIKE's
   * own characters and matches case-insensitively with the index-friendly ILIKE.
   */
  async list(f: TransferFilter): Promise<Transfer[]> {
    const rows = await this.db.query<TransferRow>(
      `SELECT * FROM transfers
        WHERE provider_account_id = $1
          AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR subaccount_token = $3)
          AND ($4::text IS NULL OR direction = $4) AND ($5::timestamptz IS NULL OR created_at >= $5)
          AND ($6::timestamptz IS NULL OR created_at < $6) AND ($7::bigint IS NULL OR seq < $7)
          AND ($9::text IS NULL OR reference ILIKE '%' || $9 || '%' ESCAPE '\\')
        ORDER BY seq DESC LIMIT $8`,
      [f.providerAccount, f.status ?? null, f.subaccount ?? null, f.direction ?? null, f.from ?? null, f.to ?? null, f.afterSeq ?? null, f.limit,
        // LIKE's own characters in the search text match themselves.
        f.reference === undefined ? null : f.reference.replace(/[\\%_]/g, '\\$&')],
    );
    return rows.map(toTransfer);
  }

  async countsByStatus(): Promise<Array<{ provider_account_id: string; status: string; n: number }>> {
    const groups = await this.db.prisma.transfer.groupBy({ by: ['providerAccountId', 'status'], _count: { _all: true } });
    return groups.map((g) => ({ provider_account_id: g.providerAccountId, status: g.status, n: g._count._all }));
  }

  /** For the /metrics gauges: how many are in doubt, and for how long the oldest has been. */
  async inDoubtStats(providerAccount: string): Promise<{ count: number; oldestAgeSeconds: number }> {
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

  /** Inserts recorded transfers, set-based, in the order given; they expire `expirySeconds` from now. */
  async insertPending(tx: Tx, providerAccount: string, expirySeconds: number, rows: NewTransfer[]): Promise<Transfer[]> {
    if (!rows.length) return [];
    const col = <T>(f: (r: NewTransfer) => T) => rows.map(f);
    const inserted = await tx.query<TransferRow>(
      `INSERT INTO transfers (id, provider_account_id, subaccount_token, direction, amount, status, reference, metadata,
                              idempotency_key, request_hash, ledger_transaction_id, expires_at, created_by, correlation_id)
       SELECT t.id, $1, t.token, t.direction, t.amount, 'pending', t.reference, t.metadata, t.idempotency_key, t.request_hash,
              t.ledger_transaction_id, now() + make_interval(secs => $2), t.created_by, t.correlation_id
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::numeric[], $7::text[], $8::jsonb[], $9::text[], $10::text[], $11::uuid[], $12::text[], $13::text[])
              WITH ORDINALITY AS t(id, token, direction, amount, reference, metadata, idempotency_key, request_hash, ledger_transaction_id, created_by, correlation_id, n)
        ORDER BY t.n
       RETURNING *`,
      [providerAccount, expirySeconds, col((r) => r.id), col((r) => r.subaccount), col((r) => r.direction), col((r) => r.amount.toFixed()),
        col((r) => r.reference), col((r) => (r.metadata ? JSON.stringify(r.metadata) : null)), col((r) => r.idempotencyKey), col((r) => r.requestHash),
        col((r) => r.ledgerTransactionId), col((r) => r.createdBy), col((r) => r.correlationId)],
    );
    return inserted.map(toTransfer);
  }

  /**
   * Of these pending transfers, those with no earlier one of the sub-account pending or executing: one primary-key
   * probe each, its checks in its select list (one partial-index probe each; in WHERE they may be hash-joined).
   */
  async headsOfLine(ids: string[]): Promise<JobRef[]> {
    const earlier = (status: string) => `EXISTS (SELECT 1 FROM transfers o WHERE o.provider_account_id = x.provider_account_id
                              AND o.subaccount_token = x.subaccount_token AND o.status = '${status}' AND o.seq < x.seq)`;
    const rows = await this.db.query<{ id: string; attempts: number }>(
      `SELECT t.id, t.attempts FROM unnest($1::uuid[]) AS i(id)
         CROSS JOIN LATERAL (SELECT x.id, x.attempts, x.status, ${earlier('pending')} OR ${earlier('executing')} AS behind
                               FROM transfers x WHERE x.id = i.id LIMIT 1) t
        WHERE t.status = 'pending' AND NOT t.behind`,
      [[...new Set(ids)]],
    );
    return rows.map((r) => ({ transferId: r.id, attempt: r.attempts }));
  }

  /**
   * The next pending transfer (recording order) of each of these sub-accounts, by token:
   * one index lookup each (`transfers_pending_queue_idx`), one statement for a settlement
   * group's sub-accounts.
   */
  async nextPendingOf(providerAccount: string, subaccounts: string[]): Promise<Map<string, JobRef>> {
    const rows = await this.db.query<{ token: string; id: string; attempts: number }>(
      `SELECT s.token, n.id, n.attempts FROM unnest($2::text[]) AS s(token)
         CROSS JOIN LATERAL (SELECT t.id, t.attempts FROM transfers t
                              WHERE t.provider_account_id = $1 AND t.subaccount_token = s.token AND t.status = 'pending'
                              ORDER BY t.seq LIMIT 1) n`,
      [providerAccount, [...new Set(subaccounts)]],
    );
    return new Map(rows.map((r) => [r.token, { transferId: r.id, attempt: r.attempts }]));
  }

  /**
   * Adds minus removes of the sub-account's transfers still `pending` (recorded, not yet sent).
   */
  async pendingNet(q: Queryable, providerAccount: string, subaccount: string): Promise<Money> {
    const sums = await q.prisma.transfer.groupBy({
      by: ['direction'], where: { providerAccountId: providerAccount, subaccountToken: subaccount, status: 'pending' }, _sum: { amount: true },
    });
    const of = (d: TransferDirection) => Money.parse(sums.find((s) => s.direction === d)?._sum.amount?.toFixed() ?? '0');
    return of('add').minus(of('remove'));
  }

  /** Status and amount of these transfers, by id (a top-up run shows its transfer's). */
  async summaries(providerAccount: string, ids: string[]): Promise<Map<string, { id: string; status: string; amount: Money; updatedAt: Date }>> {
    if (!ids.length) return new Map();
    const rows = await this.db.prisma.transfer.findMany({
      where: { providerAccountId: providerAccount, id: { in: ids } }, select: { id: true, status: true, amount: true, updatedAt: true },
    });
    return new Map(rows.map((r) => [r.id, { id: r.id, status: r.status, amount: Money.parse(r.amount.toFixed()), updatedAt: r.updatedAt }]));
  }

  /** Of these sub-accounts, those with a provider call in flight (a reading of theirs may not be settled). */
  async subaccountsExecuting(tx: Tx, providerAccount: string, subaccounts: string[]): Promise<Set<string>> {
    if (!subaccounts.length) return new Set();
    const rows = await tx.prisma.transfer.findMany({
      where: { providerAccountId: providerAccount, subaccountToken: { in: subaccounts }, status: 'executing' }, select: { subaccountToken: true }, distinct: ['subaccountToken'],
    });
    return new Set(rows.map((r) => r.subaccountToken));
  }

  // --- execution ------------------------------------------------------------------------

  /**
   * Locks the transfer for a claim and says whether it may run now: not expired, not blocked
   * (an earlier transfer of its sub-account pending, or one in doubt for less than
   * `barrier.ms` whose amount is within `barrier.within` of this one's), due.
   */
  async lockForClaim(tx: Tx, providerAccount: string, id: string, barrier: InDoubtBarrier): Promise<ClaimCandidate | null> {
    // The same facts as a claim group reads (transfer-claims.repository.ts), for one transfer.
    const [row] = await tx.query<TransferRow & { ours: boolean; due_in_ms: number; expired: boolean; blocked: boolean }>(
      CLAIM_CANDIDATES,
      [[id], providerAccount, barrier.ms, barrier.within],
    );
    if (!row?.ours) return null;
    return { transfer: toTransfer(row), dueInMs: row.due_in_ms, expired: row.expired, blocked: row.blocked };
  }

  /**
   * `executing`, one more attempt, leased to the worker. The partial unique index
   * transfers_one_executing_per_subaccount refuses a second call in flight per sub-account.
   */
  async markExecuting(tx: Tx, id: string, workerId: string, leaseMs: number): Promise<Transfer> {
    const [row] = await tx.query<TransferRow>(
      `UPDATE transfers SET status = 'executing', attempts = attempts + 1, claimed_by = $2, call_started_at = clock_timestamp(),
              lease_expires_at = now() + make_interval(secs => $3::double precision / 1000)
        WHERE id = $1 RETURNING *`,
      [id, workerId, leaseMs],
    );
    return toTransfer(row);
  }

  /** The transfer if this attempt is still the current one (executing, or gone in doubt meanwhile), locked. */
  async lockAttempt(tx: Tx, id: string, attempt: number): Promise<Transfer | null> {
    const [row] = await tx.query<TransferRow>(
      `SELECT * FROM transfers WHERE id = $1 AND attempts = $2 AND status IN ('executing', 'in_doubt') FOR UPDATE`,
      [id, attempt],
    );
    return row ? toTransfer(row) : null;
  }

  /** Back to `pending`, due again in `delayMs`. */
  async scheduleRetry(tx: Tx, id: string, delayMs: number, failureReason: string): Promise<Transfer> {
    const [row] = await tx.query<TransferRow>(
      `UPDATE transfers SET status = 'pending', lease_expires_at = NULL, claimed_by = NULL,
              next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), failure_reason = $3
        WHERE id = $1 RETURNING *`,
      [id, delayMs, failureReason],
    );
    return toTransfer(row);
  }

  /**
   * A final or in-doubt status with the provider's answer (columns given replace the stored
   * ones). With a `resolution`, the transfer is resolved as well: applied when posted, not
   * applied otherwise, by `actor`.
   */
  async setStatus(tx: Tx, id: string, s: { status: 'posted' | 'in_doubt' | 'failed' | 'voided'; provider: ProviderColumns | null; failureReason: string | null; resolution: string | null; actor: string }): Promise<Transfer> {
    const p = s.provider;
    const [row] = await tx.query<TransferRow>(
      `UPDATE transfers SET status = $2, lease_expires_at = NULL,
              provider_code = coalesce($3, provider_code), provider_message = coalesce($4, provider_message),
              provider_credit = coalesce($5, provider_credit), provider_subaccount_credit = coalesce($6, provider_subaccount_credit),
              provider_at = coalesce($7, provider_at), provider_raw = coalesce($8, provider_raw), failure_reason = $9,
              resolution_outcome = CASE WHEN $10::text IS NULL THEN resolution_outcome WHEN $2 = 'posted' THEN 'applied' ELSE 'not_applied' END,
              resolution_by = CASE WHEN $10::text IS NULL THEN resolution_by ELSE $11 END,
              resolution_reason = coalesce($10, resolution_reason),
              resolution_at = CASE WHEN $10::text IS NULL THEN resolution_at ELSE clock_timestamp() END,
              in_doubt_at = CASE WHEN $2 = 'in_doubt' THEN clock_timestamp() ELSE in_doubt_at END
        WHERE id = $1 RETURNING *`,
      [id, s.status, p?.code ?? null, p?.message ?? null, p?.credit ?? null, p?.subaccountCredit ?? null,
        p ? new Date() : null, p?.raw ? JSON.stringify(p.raw) : null, s.failureReason, s.resolution, s.actor],
    );
    return toTransfer(row);
  }

  /** An in-doubt transfer settled on evidence or an operator's word. */
  async resolve(tx: Tx, id: string, r: { status: 'posted' | 'voided'; outcome: 'applied' | 'not_applied'; by: string; reason: string }): Promise<Transfer> {
    const [row] = await tx.query<TransferRow>(
      `UPDATE transfers SET status = $2, resolution_outcome = $3, resolution_by = $4, resolution_reason = $5, resolution_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [id, r.status, r.outcome, r.by, r.reason],
    );
    return toTransfer(row);
  }

  /**
   * Did another call of this provider account overlap each of these calls (one started at
   * `startedAt`): executing now, or answered since it started? Read before any status changes.
   */
  async overlapped(tx: Tx, providerAccount: string, calls: Array<{ id: string; startedAt: Date }>): Promise<Map<string, boolean>> {
    const rows = await tx.query<{ id: string; overlapped: boolean }>(
      // Two index lookups per call (transfers_status_idx, transfers_answered_idx), not one scan.
      `SELECT x.id, EXISTS (SELECT 1 FROM transfers o WHERE o.status = 'executing' AND o.provider_account_id = $1 AND o.id <> x.id)
                 OR EXISTS (SELECT 1 FROM transfers o WHERE o.provider_account_id = $1 AND o.provider_at >= x.started AND o.id <> x.id) AS overlapped
         FROM unnest($2::uuid[], $3::timestamptz[]) AS x(id, started)`,
      [providerAccount, calls.map((c) => c.id), calls.map((c) => c.startedAt)],
    );
    return new Map(rows.map((o) => [o.id, o.overlapped]));
  }

  // --- settlement groups (PostedSettlements) --------------------------------------------

  /** Of these transfers, the ones still executing, locked in id order (with their current attempt). */
  async lockExecuting(tx: Tx, providerAccount: string, ids: string[]): Promise<JobRef[]> {
    const rows = await tx.query<{ id: string; attempts: number }>(
      `SELECT id, attempts FROM transfers WHERE id = ANY($1::uuid[]) AND provider_account_id = $2 AND status = 'executing'
        ORDER BY id FOR UPDATE`,
      [ids, providerAccount],
    );
    return rows.map((r) => ({ transferId: r.id, attempt: r.attempts }));
  }

  /** Posts a group of transfers in one statement, each with its provider's answer, answered at `at`. */
  async markPostedMany(tx: Tx, at: Date, items: Array<{ id: string; provider: ProviderColumns }>): Promise<Transfer[]> {
    const rows = await tx.query<TransferRow>(
      `UPDATE transfers t SET status = 'posted', lease_expires_at = NULL, failure_reason = NULL,
              provider_code = coalesce(v.code, t.provider_code), provider_message = coalesce(v.message, t.provider_message),
              provider_credit = coalesce(v.credit, t.provider_credit), provider_subaccount_credit = coalesce(v.sub_credit, t.provider_subaccount_credit),
              provider_at = $2, provider_raw = coalesce(v.raw, t.provider_raw)
         FROM unnest($1::uuid[], $3::int[], $4::text[], $5::numeric[], $6::numeric[], $7::jsonb[]) AS v(id, code, message, credit, sub_credit, raw)
        WHERE t.id = v.id RETURNING t.*`,
      [items.map((i) => i.id), at, items.map((i) => i.provider.code), items.map((i) => i.provider.message), items.map((i) => i.provider.credit),
        items.map((i) => i.provider.subaccountCredit), items.map((i) => (i.provider.raw ? JSON.stringify(i.provider.raw) : null))],
    );
    return rows.map(toTransfer);
  }

  // ---- for reconciliation (libs/reconciliation): what was moving while the provider was read

  /** Sub-accounts with a transfer executing at some moment since `since`: still executing, or changed since. */
  async executingSince(tx: Tx | Database, providerAccount: string, since: Date): Promise<Set<string>> {
    const rows = await tx.query<{ subaccount_token: string }>(
      `SELECT DISTINCT subaccount_token FROM transfers WHERE provider_account_id = $1 AND (status = 'executing' OR updated_at >= $2)`,
      [providerAccount, since],
    );
    return new Set(rows.map((r) => r.subaccount_token));
  }

  /** The in-doubt transfers in recording order; `recent`: in doubt for less than `graceMs` before `at`. */
  async inDoubt(tx: Tx | Database, providerAccount: string, at: Date, graceMs: number): Promise<Array<{ id: string; token: string; direction: TransferDirection; amount: Money; recent: boolean }>> {
    const rows = await tx.query<{ id: string; subaccount_token: string; direction: TransferDirection; amount: string; recent: boolean }>(
      `SELECT id, subaccount_token, direction, amount, updated_at > $2::timestamptz - make_interval(secs => $3::double precision / 1000) AS recent
         FROM transfers WHERE provider_account_id = $1 AND status = 'in_doubt' ORDER BY seq`,
      [providerAccount, at, graceMs],
    );
    return rows.map((r) => ({ id: r.id, token: r.subaccount_token, direction: r.direction, amount: Money.parse(r.amount), recent: r.recent }));
  }

  /** Transfers of the sub-account (all of the provider account's when null) in doubt, or resolved at or after `since`. */
  async inDoubtOrResolvedSince(tx: Tx | Database, providerAccount: string, token: string | null, since: Date): Promise<number> {
    const [r] = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM transfers
        WHERE provider_account_id = $1 AND ($2::text IS NULL OR subaccount_token = $2)
          AND (status = 'in_doubt' OR (resolution_at IS NOT NULL AND resolution_at >= $3))`,
      [providerAccount, token, since],
    );
    return r.n;
  }

  /** Sub-accounts with a call of unknown outcome: in doubt or executing. */
  async withCallInFlight(tx: Tx | Database, providerAccount: string): Promise<string[]> {
    const rows = await tx.query<{ subaccount_token: string }>(
      `SELECT DISTINCT subaccount_token FROM transfers WHERE provider_account_id = $1 AND status IN ('in_doubt', 'executing')`,
      [providerAccount],
    );
    return rows.map((r) => r.subaccount_token);
  }
}
