import { randomUUID } from 'node:crypto';
import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { appendJournal, Database, pgCode, PgError } from '@app/persistence';
import { checkPolicy, Clock, PolicyFields, TopupMode, TopupPolicy } from '../../domain/policy';
import { DEFAULT_SCHEDULE } from '../../domain/schedule';
import { PolicyRow, toPolicy } from '../../topups.queries';

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
  constructor(private readonly db: Database, private readonly opts: { now: Clock; defaultTimezone: string }) {}

  async execute(cmd: CreateTopupPolicyCommand): Promise<TopupPolicy> {
    const f = checkPolicy({
      subaccount: cmd.subaccount, mode: cmd.mode, amount: cmd.amount ?? null, target: cmd.target ?? null, cap: cmd.cap ?? null,
      schedule: cmd.schedule ?? DEFAULT_SCHEDULE, timezone: cmd.timezone ?? this.opts.defaultTimezone, enabled: cmd.enabled ?? true,
    });
    const id = randomUUID();
    try {
      return await this.db.transaction(async (tx) => {
        const sub = await tx.query('SELECT 1 FROM subaccounts WHERE provider_account_id = $1 AND token = $2', [cmd.providerAccount, f.subaccount]);
        if (!sub.length) throw new DomainError('subaccount_not_found', `sub-account ${f.subaccount} does not exist`);
        const [row] = await tx.query<PolicyRow>(
          `INSERT INTO topup_policies (id, provider_account_id, subaccount_token, mode, amount, target, cap, schedule, timezone, enabled, effective_from, created_by, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING *`,
          [id, cmd.providerAccount, f.subaccount, f.mode, f.amount?.toFixed() ?? null, f.target?.toFixed() ?? null, f.cap?.toFixed() ?? null,
            f.schedule, f.timezone, f.enabled, this.opts.now(), cmd.actor],
        );
        await appendJournal(tx, {
          providerAccount: cmd.providerAccount, actor: cmd.actor, action: 'topup_policy.created', entityType: 'topup_policy', entityId: id,
          correlationId: cmd.correlationId, data: journalFields(f),
        });
        return toPolicy(row);
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
