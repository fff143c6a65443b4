import { scrubText } from '@app/common';
import { JournalInput } from '@app/persistence';

/**
 * The journal entry of one attempt (`transfer.executing`): which attempt, by which worker,
 * when its call started. It is written when the attempt ends, by the transaction that moves
 * the transfer out of `executing` (posted, failed, in doubt, back to pending for a retry),
 * just before that transaction's entry for the outcome and in the same statement. The claim
 * writes none: what makes a call safe is the transfer's row, which the claim commits before
 * the call, and a claim that journaled would wait for the journal chain head behind every
 * recording and settlement group (docs/pipeline.md, "An attempt is journaled
 * when it ends"). `startedAt`: the worker's own start of the call when the worker ends the
 * attempt, the claim's `call_started_at` when the sweeper does.
 */
export function attemptEntry(t: { providerAccount: string; id: string; attempts: number }, worker: string | null, startedAt: Date | null): JournalInput {
  return {
    providerAccount: t.providerAccount, actor: 'system:worker', action: 'transfer.executing', entityType: 'transfer', entityId: t.id,
    reason: null, correlationId: null,
    data: { attempt: t.attempts, worker: worker === null ? null : scrubText(worker), startedAt: startedAt?.toISOString() ?? null },
  };
}
