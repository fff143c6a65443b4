import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { appendJournal, Database, pgCode, PgError } from '@app/persistence';
import { checkPolicy, Clock, PolicyFields, TopupMode, TopupPolicy } from '../../domain/policy';
import { TopupsRepository } from '../../topups.repository';
import { journalFields } from '../create-topup-policy/create-topup-policy.use-case';

export interface UpdateTopupPolicyCommand {
  providerAccount: string;
  id: string;
  /** Only the fields given change; `cap: null` removes the cap. Switching mode drops the other mode's field. */
  patch: {
    subaccount?: string;
    mode?: TopupMode;
    amount?: Money;
    target?: Money;
    cap?: Money | null;
    schedule?: string;
    timezone?: string;
    enabled?: boolean;
  };
  actor: string;
  correlationId?: string | null;
}

/**
 * Changes a policy, journaling what changed and who changed it. A new schedule or zone, or
 * re-enabling, starts the policy afresh from now: periods that fell before (under the old
 * schedule, or while disabled) are not owed and not listed as missed.
 */
export class UpdateTopupPolicyUseCase {
  constructor(private readonly db: Database, private readonly topups: TopupsRepository, private readonly opts: { now: Clock }) {}

  async execute(cmd: UpdateTopupPolicyCommand): Promise<TopupPolicy> {
    try {
      return await this.db.transaction(async (tx) => {
        const current = await this.topups.lockPolicy(tx, cmd.providerAccount, cmd.id);
        if (current.deletedAt) throw new DomainError('invalid_state', `top-up policy ${cmd.id} is deleted`);
        const p = cmd.patch;
        const mode = p.mode ?? current.mode;
        const merged: PolicyFields = {
          subaccount: p.subaccount ?? current.subaccount,
          mode,
          amount: mode === 'fixed' ? (p.amount ?? current.amount) : (p.amount ?? null),
          target: mode === 'target' ? (p.target ?? current.target) : (p.target ?? null),
          cap: p.cap === undefined ? current.cap : p.cap,
          schedule: p.schedule ?? current.schedule,
          timezone: p.timezone ?? current.timezone,
          enabled: p.enabled ?? current.enabled,
        };
        const f = checkPolicy(merged);
        const before = journalFields(current);
        const after = journalFields(f);
        const changes = Object.fromEntries(Object.keys(after).filter((k) => before[k] !== after[k]).map((k) => [k, { from: before[k], to: after[k] }]));
        if (Object.keys(changes).length === 0) return current;
        const restart = f.schedule !== current.schedule || f.timezone !== current.timezone || (f.enabled && !current.enabled);
        const updated = await this.topups.updatePolicy(tx, cmd.id, f, restart ? this.opts.now() : null, cmd.actor);
        await appendJournal(tx, {
          providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'topup_policy.updated', entityType: 'topup_policy', entityId: cmd.id,
          correlationId: cmd.correlationId, data: { changes, restartedFrom: restart ? updated.effectiveFrom.toISOString() : null },
        });
        return updated;
      });
    } catch (err) {
      if (pgCode(err) === PgError.foreignKeyViolation) throw new DomainError('subaccount_not_found', `sub-account ${cmd.patch.subaccount} does not exist`);
      throw err;
    }
  }
}
