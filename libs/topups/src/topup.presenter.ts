import { TopupPolicy } from './domain/policy';
import { nextFire, parseSchedule } from './domain/schedule';
import { TopupRun } from './topups.repository';

/** The `TopupPolicy` of the HTTP contract: money as 3-decimal strings, ISO 8601 UTC times. */
export function topupPolicyJson(p: TopupPolicy, now: Date) {
  const active = p.enabled && !p.deletedAt;
  return {
    id: p.id,
    subaccount: p.subaccount,
    mode: p.mode,
    amount: p.amount?.toFixed() ?? null,
    target: p.target?.toFixed() ?? null,
    cap: p.cap?.toFixed() ?? null,
    schedule: p.schedule,
    timezone: p.timezone,
    enabled: p.enabled,
    nextRunAt: active ? nextFire(parseSchedule(p.schedule, p.timezone), now).toISOString() : null,
    effectiveFrom: p.effectiveFrom.toISOString(),
    createdBy: p.createdBy,
    updatedBy: p.updatedBy,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    deletedAt: p.deletedAt?.toISOString() ?? null,
  };
}

/** A run with the transfer it created and that transfer's current status. */
export function topupRunJson(r: TopupRun) {
  return {
    id: r.id,
    policy: r.policyId,
    period: r.period,
    scheduledFor: r.scheduledFor.toISOString(),
    status: r.status,
    mode: r.mode,
    amount: r.amount?.toFixed() ?? null,
    explanation: r.explanation,
    observedBalance: r.observedBalance?.toFixed() ?? null,
    transfer: r.transfer ? { id: r.transfer.id, status: r.transfer.status, amount: r.transfer.amount.toFixed(), updatedAt: r.transfer.updatedAt.toISOString() } : null,
    createdAt: r.createdAt.toISOString(),
  };
}
