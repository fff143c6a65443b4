import { DomainError } from '@app/common';
import { adjustmentPostings, Money, subaccountTokenOf } from '@app/ledger';
import { appendJournal, Database, LedgerRepository, Tx } from '@app/persistence';
import { FindingRow, FindingView, isUuid, toFindingView } from '../../reconciliation.queries';
import { ResolveDriftCommand } from './resolve-drift.command';

const KINDS = ['usage', 'purchase', 'write_off'] as const;

/**
 * Finance's answer to an open drift finding: a balanced adjustment of exactly the finding's
 * drift (usage, purchase or write-off), booked posted with the operator and reason, and the
 * finding resolved with its ledger transaction id. The next run then sees the account matched.
 */
export class ResolveDriftUseCase {
  constructor(private readonly db: Database, private readonly ledger: LedgerRepository) {}

  async execute(cmd: ResolveDriftCommand): Promise<FindingView> {
    if (!(KINDS as readonly string[]).includes(cmd.as)) throw new DomainError('validation_failed', `as must be one of ${KINDS.join(', ')}`);
    const reason = typeof cmd.reason === 'string' ? cmd.reason.trim() : '';
    if (!reason) throw new DomainError('validation_failed', 'a reason is required');
    if (!isUuid(cmd.findingId)) throw new DomainError('drift_not_found', `drift finding ${cmd.findingId} does not exist`);
    return this.db.transaction(async (tx) => {
      // A run's readings and this booking must not interleave (a run takes FOR NO KEY UPDATE on this row to start).
      await tx.query('SELECT id FROM provider_accounts WHERE id = $1 FOR SHARE', [cmd.providerAccount]);
      const running = await tx.query<{ id: string }>(`SELECT id FROM reconciliation_runs WHERE provider_account_id = $1 AND status = 'running'`, [cmd.providerAccount]);
      if (running.length) {
        throw new DomainError('reconciliation_already_running', 'a reconciliation run is in progress; resolve the drift once it has finished', { runId: running[0].id });
      }
      const [f] = await tx.query<FindingRow>('SELECT * FROM drift_findings WHERE id = $1 AND provider_account_id = $2 FOR UPDATE', [cmd.findingId, cmd.providerAccount]);
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
      const [updated] = await tx.query<FindingRow>(
        `UPDATE drift_findings SET status = 'resolved', resolution_kind = $2, resolution_by = $3, resolution_reason = $4,
                resolved_at = clock_timestamp(), resolution_ledger_transaction_id = $5 WHERE id = $1 RETURNING *`,
        [f.id, cmd.as, cmd.actor, reason, ledgerTransactionId],
      );
      await appendJournal(tx, {
        providerAccount: cmd.providerAccount, actor: cmd.actor, action: `drift_finding.resolved_${cmd.as}`, entityType: 'drift_finding',
        entityId: f.id, reason, data: { account: f.account_code, drift: drift.toFixed(), ledgerTransactionId },
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
    const isMain = f.account_code === 'main';
    const [r] = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM transfers
        WHERE provider_account_id = $1 AND ($2::text IS NULL OR subaccount_token = $2)
          AND (status = 'in_doubt' OR (resolution_at IS NOT NULL AND resolution_at >= $3))`,
      [f.provider_account_id, isMain ? null : subaccountTokenOf(f.account_code), f.last_seen_at],
    );
    if (r.n > 0) {
      throw new DomainError('invalid_state', `${f.account_code} has in-doubt transfers (open or resolved since this drift was measured): resolve them, then run a reconciliation before booking this drift`, { inDoubtTransfers: r.n });
    }
  }
}
