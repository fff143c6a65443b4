import { DomainError } from '@app/common';
import { appendJournal, Database } from '@app/persistence';
import { Clock, TopupPolicy } from '../../domain/policy';
import { TopupsRepository } from '../../topups.repository';

/**
 * Soft-deletes a policy: it never fires again and can no longer change (the database refuses),
 * but it and its runs stay readable for the audit trail.
 */
export class DeleteTopupPolicyUseCase {
  constructor(private readonly db: Database, private readonly topups: TopupsRepository, private readonly opts: { now: Clock }) {}

  async execute(cmd: { providerAccount: string; id: string; actor: string; correlationId?: string | null }): Promise<TopupPolicy> {
    return this.db.transaction(async (tx) => {
      const current = await this.topups.lockPolicy(tx, cmd.providerAccount, cmd.id);
      if (current.deletedAt) throw new DomainError('invalid_state', `top-up policy ${cmd.id} is already deleted`);
      const deleted = await this.topups.deletePolicy(tx, cmd.id, this.opts.now(), cmd.actor);
      await appendJournal(tx, {
        providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'topup_policy.deleted', entityType: 'topup_policy', entityId: cmd.id,
        correlationId: cmd.correlationId,
      });
      return deleted;
    });
  }
}
