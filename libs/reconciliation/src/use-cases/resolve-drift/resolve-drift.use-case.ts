import { DomainError } from '@app/common';
import { adjustmentPostings, Money, subaccountTokenOf } from '@app/ledger';
import { Database, LedgerRepository, Tx } from '@app/persistence';
import { TransfersRepository } from '@app/transfers';
import { ReconciliationRepository } from '../../persistence/reconciliation.repository';
import { FindingRow, FindingView, isUuid, toFindingView } from '../../reconciliation.queries';
import { ResolveDriftCommand } from './resolve-drift.command';

const KINDS = ['usage', 'purchase', 'write_off'] as const;

/**
 * Finance's answer to an open drift finding: a balanced adjustment of exactly the finding's
 * drift (usage, purchase or write-off), booked posted with the operator and reason, and the
 * finding resolved with its ledger transaction id. The next run then sees the account matched.
 */
export class ResolveDriftUseCase {
  private readonly repository: ReconciliationRepository;
  private readonly transfers: TransfersRepository;

  constructor(db: Database, private readonly ledger: LedgerRepository) {
    this.repository = new ReconciliationRepository(db);
    this.transfers = new TransfersRepository(db);
  }

  async execute(cmd: ResolveDriftCommand): Promise<FindingView> {
    if (!(KINDS as readonly string[]).includes(cmd.as)) throw new DomainError('validation_failed', `as must be one of ${KINDS.join(', ')}`);
    const reason = typeof cmd.reason === 'string' ? cmd.reason.trim() : '';
    if (!reason) throw new DomainError('validation_failed', 'a reason is required');
    if (!isUuid(cmd.findingId)) throw new DomainError('drift_not_found', `drift finding ${cmd.findingId} does not exist`);
    return this.repository.transaction(async (tx) => {
      // A run's readings and this booking must not interleave (a run takes FOR NO KEY UPDATE on this row to start).
      await this.repository.holdOffRuns(tx, cmd.providerAccount);
      const running = await this.repository.runningRun(tx, cmd.providerAccount);
      if (running) {
        throw new DomainError('reconciliation_already_running', 'a reconciliation run is in progress; resolve the drift once it has finished', { runId: running });
      }
      const f = await this.repository.lockFinding(tx, cmd.providerAccount, cmd.findingId);
      if (!f) throw new DomainError('drift_not_found', `drift finding ${cmd.findingId} does not exist`);
      if (f.status !== 'open') throw new DomainError('invalid_state', `drift finding ${f.id} is already resolved`, { status: f.status });
      const drift = Money.parse(f.drift);
      if (cmd.as === 'usage' && !drift.isNegative()) throw new DomainError('validation_failed', 'usage can only explain a negative drift (less credit at the provider than in the ledger)');
      if (cmd.as === 'purchase' && !drift.isPositive()) throw new DomainError('validation_failed', 'purchase can only explain a positive drift (more credit at the provider than in the ledger)');
      await this.assertFresh(tx, f);
      const ledgerTransactionId = await this.ledger.record(tx, {
        providerAccount: cmd.providerAccount, kind: cmd.as, state: 'posted', actor: cmd.actor, reason,
        lines: adjustmentPostings(cmd.as, f.account_code, drift), journalData: { findingId: f.id },
      });
      const updated = await this.repository.resolveFinding(tx, cmd.providerAccount, { id: f.id, account: f.account_code }, {
        as: cmd.as, by: cmd.actor, reason, ledgerTransactionId, data: { drift: drift.toFixed() },
      });
      return toFindingView(updated);
    });
  }

  /**
   * The finding's drift is relative to the ledger when it was last seen. An in-doubt transfer
   * of the account (still open, or resolved since) moves the ledger without the provider:
   * booking the old amount would then be wrong, so a new run must measure it again.
   */
  private async assertFresh(tx: Tx, f: FindingRow): Promise<void> {
    const token = f.account_code === 'main' ? null : subaccountTokenOf(f.account_code)!;
    const n = await this.transfers.inDoubtOrResolvedSince(tx, f.provider_account_id, token, f.last_seen_at);
    if (n > 0) {
      throw new DomainError('invalid_state', `${f.account_code} has in-doubt transfers (open or resolved since this drift was measured): resolve them, then run a reconciliation before booking this drift`, { inDoubtTransfers: n });
    }
  }
}
