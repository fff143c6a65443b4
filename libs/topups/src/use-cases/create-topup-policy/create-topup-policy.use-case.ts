import { randomUUID } from 'node:crypto';
import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { appendJournal, Database, pgCode, PgError } from '@app/persistence';
import { checkPolicy, Clock, PolicyFields, TopupMode, TopupPolicy } from '../../domain/policy';
import { DEFAULT_SCHEDULE } from '../../domain/schedule';
import { SubaccountsRepository } from '@app/subaccounts';
import { TopupsRepository } from '../../topups.repository';

export interface CreateTopupPolicyCommand {
  providerAccount: string;
  subaccount: string;
  mode: TopupMode;
  amount?: Money;
  target?: Money;
  cap?: Money | null;
  /** Default: monthly on the 1st at 06:00 (`0 6 1 * *`). */
  schedule?: string;
  /** Default: TOPUP_TIMEZONE. */
  timezone?: string;
  enabled?: boolean;
  actor: string;
  correlationId?: string | null;
}

/** Creates a policy. Its first period is the first fire after now: creating one never tops up for a period already past. */
export class CreateTopupPolicyUseCase {
  constructor(
    private readonly db: Database,
    private readonly topups: TopupsRepository,
    private readonly subaccounts: SubaccountsRepository,
    private readonly opts: { now: Clock; defaultTimezone: string },
  ) {}

  async execute(cmd: CreateTopupPolicyCommand): Promise<TopupPolicy> {
    const f = checkPolicy({
      subaccount: cmd.subaccount, mode: cmd.mode, amount: cmd.amount ?? null, target: cmd.target ?? null, cap: cmd.cap ?? null,
      schedule: cmd.schedule ?? DEFAULT_SCHEDULE, timezone: cmd.timezone ?? this.opts.defaultTimezone, enabled: cmd.enabled ?? true,
    });
    const id = randomUUID();
    try {
      return await this.db.transaction(async (tx) => {
        if (!(await this.subaccounts.exists(tx, cmd.providerAccount, f.subaccount))) throw new DomainError('subaccount_not_found', `sub-account ${f.subaccount} does not exist`);
        const policy = await this.topups.insertPolicy(tx, { id, providerAccount: cmd.providerAccount, fields: f, effectiveFrom: this.opts.now(), actor: cmd.actor });
        await appendJournal(tx, {
          providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'topup_policy.created', entityType: 'topup_policy', entityId: id,
          correlationId: cmd.correlationId, data: journalFields(f),
        });
        return policy;
      });
    } catch (err) {
      if (pgCode(err) === PgError.foreignKeyViolation) throw new DomainError('subaccount_not_found', `sub-account ${f.subaccount} does not exist`);
      throw err;
    }
  }
}

export function journalFields(f: PolicyFields): Record<string, unknown> {
  return {
    subaccount: f.subaccount, mode: f.mode, amount: f.amount?.toFixed() ?? null, target: f.target?.toFixed() ?? null, cap: f.cap?.toFixed() ?? null,
    schedule: f.schedule, timezone: f.timezone, enabled: f.enabled,
  };
}
