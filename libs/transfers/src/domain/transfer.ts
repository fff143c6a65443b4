import { Money, TransferDirection } from '@app/ledger';

/**
 * pending   recorded with its reservation, waiting for the worker
 * executing one provider call in flight (claimed with a lease)
 * posted    the provider confirmed; the reservation is posted
 * failed    the provider refused, was never reachable, or the transfer expired; voided
 * in_doubt  the call may or may not have moved the money; never retried, reservation kept
 * voided    an in-doubt transfer resolved as not applied
 */
export type TransferStatus = 'pending' | 'executing' | 'posted' | 'failed' | 'in_doubt' | 'voided';
export const TRANSFER_STATUSES: readonly TransferStatus[] = ['pending', 'executing', 'posted', 'failed', 'in_doubt', 'voided'];

export interface Transfer {
  id: string;
  seq: string;
  providerAccount: string;
  subaccount: string;
  direction: TransferDirection;
  amount: Money;
  status: TransferStatus;
  reference: string | null;
  metadata: Record<string, unknown> | null;
  idempotencyKey: string | null;
  ledgerTransactionId: string;
  attempts: number;
  nextAttemptAt: Date;
  leaseExpiresAt: Date | null;
  expiresAt: Date;
  provider: null | { code: number | null; message: string | null; credit: Money | null; subaccountCredit: Money | null; at: Date | null };
  failureReason: string | null;
  resolution: null | { outcome: 'applied' | 'not_applied'; by: string; reason: string | null; at: Date };
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}
