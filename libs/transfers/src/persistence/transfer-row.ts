import { Money, TransferDirection } from '@app/ledger';
import { Prisma } from '@app/persistence';
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

type TransferModel = Prisma.TransferGetPayload<object>;

/** The same mapping for a row read through Prisma Client (NUMERIC as Decimal, BIGINT as bigint). */
export function transferFromModel(m: TransferModel): Transfer {
  return toTransfer({
    id: m.id, seq: m.seq.toString(), provider_account_id: m.providerAccountId, subaccount_token: m.subaccountToken,
    direction: m.direction as TransferDirection, amount: m.amount.toFixed(), status: m.status as TransferStatus, reference: m.reference,
    metadata: m.metadata as Record<string, unknown> | null, idempotency_key: m.idempotencyKey, request_hash: m.requestHash,
    ledger_transaction_id: m.ledgerTransactionId, attempts: m.attempts, next_attempt_at: m.nextAttemptAt, lease_expires_at: m.leaseExpiresAt,
    expires_at: m.expiresAt, provider_code: m.providerCode, provider_message: m.providerMessage, provider_credit: m.providerCredit?.toFixed() ?? null,
    provider_subaccount_credit: m.providerSubaccountCredit?.toFixed() ?? null, provider_at: m.providerAt, failure_reason: m.failureReason,
    resolution_outcome: m.resolutionOutcome as TransferRow['resolution_outcome'], resolution_by: m.resolutionBy, resolution_reason: m.resolutionReason,
    resolution_at: m.resolutionAt, created_by: m.createdBy, created_at: m.createdAt, updated_at: m.updatedAt,
  });
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

