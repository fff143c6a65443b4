import { DomainError } from '@app/common';
import { appendJournal, Database } from '@app/persistence';
import { Clock, TopupPolicy } from '../../domain/policy';
import { PolicyRow, TopupsQueries, toPolicy } from '../../topups.queries';

/**
 * Soft-deletes a policy: it never fires again and can no longer change (the database refuses),
 * but it and its runs stay readable for the audit trail.
 */
export class DeleteTopupPolicyUseCase {
  private readonly queries: TopupsQueries;

  constructor(private readonly db: Database, private readonly opts: { now: Clock }) {
    this.queries = new TopupsQueries(db);
  }

  async execute(cmd: { providerAccount: string; id: string; actor: string; correlationId?: string | null }): Promise<TopupPolicy> {
    return this.db.transaction(async (tx) => {
      const current = await this.queries.getPolicy(cmd.providerAccount, cmd.id, tx, true);
      if (current.deletedAt) throw new DomainError('invalid_state', `top-up policy ${cmd.id} is already deleted`);
      const [row] = await tx.query<PolicyRow>(
        'UPDATE topup_policies SET deleted_at = $3, enabled = false, updated_by = $4 WHERE provider_account_id = $1 AND id = $2 RETURNING *',
        [cmd.providerAccount, cmd.id, this.opts.now(), cmd.actor],
      );
      await appendJournal(tx, {
        providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'topup_policy.deleted', entityType: 'topup_policy', entityId: cmd.id,
        correlationId: cmd.correlationId,
      });
      return toPolicy(row);
    });
  }
}
