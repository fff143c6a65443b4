import { Database } from '@app/persistence';
import { SubaccountReads } from '@app/subaccounts';
import { Clock, decide } from '../../domain/policy';
import { latestFire, nextFire, parseSchedule, periodKey } from '../../domain/schedule';
import { TransfersRepository } from '@app/transfers';
import { readProviderBalance } from '../../balance-reading';
import { TopupsRepository } from '../../topups.repository';

export interface TopupPreview {
  policy: string;
  enabled: boolean;
  deleted: boolean;
  /** The next fire (null for a disabled or deleted policy: it will not fire). */
  nextRunAt: string | null;
  nextPeriod: string | null;
  /** A period that is due and has no run yet: the scheduler's next tick runs it. */
  duePeriod: string | null;
  /** What a run would transfer if it decided now; null: nothing (at or above the target). */
  amount: string | null;
  explanation: string;
  observedBalance: string | null;
  at: string;
}

/** What the next run would do: when, and the amount it would transfer now (target mode reads the provider). */
export class PreviewTopupPolicyUseCase {
  constructor(
    private readonly db: Database,
    private readonly topups: TopupsRepository,
    private readonly transfers: TransfersRepository,
    private readonly provider: SubaccountReads,
    private readonly opts: { now: Clock },
  ) {}

  async execute(providerAccount: string, id: string): Promise<TopupPreview> {
    const p = await this.topups.getPolicy(providerAccount, id);
    const now = this.opts.now();
    const active = p.enabled && !p.deletedAt;
    const s = parseSchedule(p.schedule, p.timezone);
    const next = active ? nextFire(s, now) : null;
    let duePeriod: string | null = null;
    if (active) {
      const latest = latestFire(s, now);
      if (latest && latest > p.effectiveFrom) {
        const key = periodKey(latest, p.timezone);
        if (!(await this.topups.hasRun(this.db, p.id, key))) duePeriod = key;
      }
    }
    let reading = null;
    let explanation: string;
    let amount: string | null = null;
    let observed: string | null = null;
    if (p.mode === 'target') {
      const balance = await readProviderBalance(this.provider, p.subaccount);
      if (balance) reading = { observed: balance, pendingNet: await this.transfers.pendingNet(this.db, providerAccount, p.subaccount) };
    }
    if (p.mode === 'target' && !reading) {
      explanation = `the provider does not list sub-account ${p.subaccount}: a run would fail`;
    } else {
      const d = decide(p, reading);
      amount = d.amount?.toFixed() ?? null;
      explanation = d.explanation;
      observed = d.observed?.toFixed() ?? null;
    }
    return {
      policy: p.id, enabled: p.enabled, deleted: p.deletedAt !== null, nextRunAt: next?.toISOString() ?? null,
      nextPeriod: next ? periodKey(next, p.timezone) : null, duePeriod, amount, explanation, observedBalance: observed, at: now.toISOString(),
    };
  }
}
