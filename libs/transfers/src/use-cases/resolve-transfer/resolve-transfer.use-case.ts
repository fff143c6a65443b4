import { DomainError } from '@app/common';
import { appendJournal, Database, LedgerRepository, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { TransfersRepository } from '../../persistence/transfers.repository';

export interface ResolveTransferCommand {
  providerAccount: string;
  transferId: string;
  outcome: 'applied' | 'not_applied';
  reason: string;
  /** An operator (`token:<name>/<role>`) or `system:reconciliation`. */
  actor: string;
  evidence?: Record<string, unknown>;
}

/** Settles an in-doubt transfer on evidence or an operator's word: posts or voids it, journaled. */
export class ResolveTransferUseCase {
  constructor(private readonly db: Database, private readonly ledger: LedgerRepository, private readonly transfers: TransfersRepository) {}

  /** `also` runs in the same database transaction once the transfer is resolved (e.g. storing the evidence). */
  async execute(cmd: ResolveTransferCommand, also?: (tx: Tx, transfer: Transfer) => Promise<void>): Promise<Transfer> {
    return this.db.transaction(async (tx) => {
      const row = await this.transfers.lock(tx, cmd.providerAccount, cmd.transferId);
      if (!row) throw new DomainError('transfer_not_found', `transfer ${cmd.transferId} does not exist`);
      if (row.status !== 'in_doubt') {
        throw new DomainError('invalid_state', `only an in_doubt transfer can be resolved; this one is ${row.status}`, { status: row.status });
      }
      const to = cmd.outcome === 'applied' ? 'posted' : 'voided';
      await this.ledger.settle(tx, row.ledgerTransactionId, to, cmd.actor, cmd.reason, { transferId: row.id, resolution: cmd.outcome, evidence: cmd.evidence ?? null });
      const transfer = await this.transfers.resolve(tx, row.id, { status: to, outcome: cmd.outcome, by: cmd.actor, reason: cmd.reason });
      await appendJournal(tx, {
        providerAccount: cmd.providerAccount, actor: cmd.actor, action: `transfer.resolved_${cmd.outcome}`, entityType: 'transfer',
        entityId: row.id, reason: cmd.reason, data: { evidence: cmd.evidence ?? null },
      });
      if (also) await also(tx, transfer);
      return transfer;
    });
  }
}
