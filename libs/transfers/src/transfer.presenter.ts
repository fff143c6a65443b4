import { Transfer } from './domain/transfer';
import { EvidenceJson } from './persistence/evidence.queries';

/**
 * The `Transfer` of the HTTP contract: money as 3-decimal strings, ISO 8601 UTC times;
 * `evidence` is the latest evaluation of its in-doubt question (docs/in-doubt.md), or null.
 */
export function transferJson(t: Transfer, evidence: EvidenceJson | null = null) {
  return {
    id: t.id,
    subaccount: t.subaccount,
    direction: t.direction,
    amount: t.amount.toFixed(),
    status: t.status,
    reference: t.reference,
    metadata: t.metadata,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    attempts: t.attempts,
    failureReason: t.failureReason,
    provider: t.provider
      ? {
          code: t.provider.code,
          message: t.provider.message,
          credit: t.provider.credit?.toFixed() ?? null,
          subaccountCredit: t.provider.subaccountCredit?.toFixed() ?? null,
          at: t.provider.at?.toISOString() ?? null,
        }
      : null,
    resolution: t.resolution
      ? { outcome: t.resolution.outcome, by: t.resolution.by, reason: t.resolution.reason, at: t.resolution.at.toISOString() }
      : null,
    ledgerTransactionId: t.ledgerTransactionId,
    evidence,
  };
}
