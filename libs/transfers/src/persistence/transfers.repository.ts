import { Money, TransferDirection } from '@app/ledger';
import { Database, Tx } from '@app/persistence';
import { Transfer, TransferStatus } from '../domain/transfer';

export interface TransferRow {
  id: string; seq: string; provider_account_id: string; subaccount_token: string; direction: TransferDirection;
  amount: string; status: TransferStatus; reference: string | null; metadata: Record<string, unknown> | null;
  idempotency_key: string | null; request_hash: string | null; ledger_transaction_id: string; attempts: number;
  next_attempt_at: Date; lease_expires_at: Date | null; expires_at: Date; provider_code: number | null;
  provider_message: string | null; provider_credit: string | null; provider_subaccount_credit: string | null;
  provider_at: Date | null; failure_reason: string | null; resolution_outcome: 'applied' | 'not_applied' | null;
  resolution_by: string | null; resolution_reason: string | null; resolution_at: Date | null; created_by: string;
  created_at: Date; updated_at: Date;
}

export function toTransfer(r: TransferRow): Transfer {
  const hasProvider = r.provider_at !== null || r.provider_code !== null;
  return {
    id: r.id,
    seq: r.seq,
    providerAccount: r.provider_account_id,
    subaccount: r.subaccount_token,
    direction: r.direction,
    amount: Money.parse(r.amount),
    status: r.status,
    reference: r.reference,
    metadata: r.metadata,
    idempotencyKey: r.idempotency_key,
    ledgerTransactionId: r.ledger_transaction_id,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    leaseExpiresAt: r.lease_expires_at,
    expiresAt: r.expires_at,
    provider: hasProvider
      ? {
          code: r.provider_code,
          message: r.provider_message,
          credit: r.provider_credit === null ? null : Money.parse(r.provider_credit),
          subaccountCredit: r.provider_subaccount_credit === null ? null : Money.parse(r.provider_subaccount_credit),
          at: r.provider_at,
        }
      : null,
    failureReason: r.failure_reason,
    resolution: r.resolution_outcome
      ? { outcome: r.resolution_outcome, by: r.resolution_by!, reason: r.resolution_reason, at: r.resolution_at! }
      : null,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface TransferFilter {
  providerAccount: string;
  status?: TransferStatus;
  subaccount?: string;
  direction?: TransferDirection;
  from?: Date;
  to?: Date;
  /** Text the reference contains (case-insensitive). */
  reference?: string;
  /** Keyset cursor: the seq of the last item of the previous page. */
  afterSeq?: string;
  limit: number;
}

/** SQL for transfers. Writes take the caller's transaction. */
export class TransfersRepository {
  constructor(private readonly db: Database) {}

  async get(providerAccount: string, id: string, tx: Tx | Database = this.db, lock = false): Promise<Transfer | null> {
    const rows = await tx.query<TransferRow>(
      `SELECT * FROM transfers WHERE id = $1 AND provider_account_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [id, providerAccount],
    );
    return rows.length ? toTransfer(rows[0]) : null;
  }

  /** The transfers recorded under these keys, by key, with the hash of the request each stands for. */
  async byIdempotencyKeys(tx: Tx | Database, providerAccount: string, keys: string[]): Promise<Map<string, { transfer: Transfer; requestHash: string }>> {
    if (!keys.length) return new Map();
    const rows = await tx.query<TransferRow>('SELECT * FROM transfers WHERE provider_account_id = $1 AND idempotency_key = ANY($2::text[])', [providerAccount, keys]);
    return new Map(rows.map((r) => [r.idempotency_key!, { transfer: toTransfer(r), requestHash: r.request_hash! }]));
  }

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
    return this.db.query('SELECT provider_account_id, status, count(*)::int AS n FROM transfers GROUP BY 1, 2');
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
