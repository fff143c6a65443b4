import { Money, TransferDirection } from '@app/ledger';

export interface RecordTransferCommand {
  providerAccount: string;
  subaccount: string;
  direction: TransferDirection;
  amount: Money;
  reference?: string | null;
  metadata?: Record<string, unknown> | null;
  idempotencyKey?: string | null;
  /** Who asked: `token:<name>/<role>` or `system:<job>`. */
  actor: string;
  correlationId?: string | null;
}
