import { GroupCommit, Logger } from '@app/common';
import { Money, subaccountCode } from '@app/ledger';
import { appendJournalMany, Database, LedgerRepository, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { TransferRow, toTransfer } from '../../persistence/transfers.repository';

/** A transfer whose provider call answered `ok`, with what the provider said. */
export interface PostedOutcome {
  transfer: Transfer;
  /** The provider's balances after the call. */
  mainBalance: Money;
  subaccountBalance: Money;
  /** The columns stored on the transfer (code, message, credits, redacted raw answer). */
  provider: { code: number | null; message: string | null; credit: string | null; subaccountCredit: string | null; raw: unknown };
  /** When the call started: any other call answered since then overlapped it. */
  startedAt: Date;
}

const ACTOR = 'system:worker';

/**
 * Settlement group commit. Every settlement of a provider account moves `main`'s balance row
 * (and the journal chain head), so one database transaction per confirmed call queues the
 * settlements, and every recording group, behind each other's lock of that row. The posted
 * outcomes that arrive while a settlement is in flight are settled together in the next
 * transaction (`GroupCommit`, as recording does): one lock of the balance rows, one UPDATE of
 * the ledger transactions, one of the transfers, one journal statement, one of observations.
 *
 * Only the ordinary case is grouped: the transfer is still `executing` in the attempt that
 * called. Anything else (a late answer to a transfer that went in doubt, an attempt that is no
 * longer current), or a group whose transaction fails, is answered `null`: the caller then
 * applies that outcome on its own, one transfer per transaction, exactly as before.
 *
 * Observations keep what they rely on (docs/pipeline.md, "Settlement groups"): `expected` is
 * the ledger's posted balance right after this transfer's own settlement (the running balance
 * of its account entry), and `settled` is false for `main` whenever any other call of the
 * provider account overlapped — which includes every other member of a group.
 */
export class PostedSettlements {
  private readonly groups: GroupCommit<PostedOutcome, Transfer | null>;

  constructor(private readonly db: Database, private readonly ledger: LedgerRepository, private readonly logger?: Logger, maxGroup = 64) {
    this.groups = new GroupCommit((providerAccount, items) => this.settleGroup(providerAccount, items), maxGroup);
  }

  /** The posted transfer, or null when this outcome must be applied by the caller alone. */
  submit(outcome: PostedOutcome): Promise<Transfer | null> {
    return this.groups.submit(outcome.transfer.providerAccount, outcome);
  }

  private async settleGroup(providerAccount: string, items: PostedOutcome[]): Promise<Array<Transfer | null>> {
    try {
      return await this.db.transaction((tx) => this.settleIn(tx, providerAccount, items));
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message, transfers: items.length }, 'settlement group failed; settling its transfers one by one');
      return items.map(() => null);
    }
  }

  private async settleIn(tx: Tx, providerAccount: string, items: PostedOutcome[]): Promise<Array<Transfer | null>> {
    const locked = await tx.query<{ id: string; attempts: number }>(
      `SELECT id, attempts FROM transfers WHERE id = ANY($1::uuid[]) AND provider_account_id = $2 AND status = 'executing'
        ORDER BY id FOR UPDATE`,
      [items.map((i) => i.transfer.id), providerAccount],
    );
    const current = new Set(locked.map((r) => `${r.id}:${r.attempts}`));
    const mine = items.filter((i) => current.has(`${i.transfer.id}:${i.transfer.attempts}`));
    if (!mine.length) return items.map(() => null);
    const ids = mine.map((i) => i.transfer.id);

    // Before any status changes: did another call of this provider account overlap each one?
    const overlaps = await tx.query<{ id: string; overlapped: boolean }>(
      `SELECT x.id, EXISTS (SELECT 1 FROM transfers o WHERE o.provider_account_id = $1 AND o.id <> x.id
                              AND (o.status = 'executing' OR (o.provider_at IS NOT NULL AND o.provider_at >= x.started))) AS overlapped
         FROM unnest($2::uuid[], $3::timestamptz[]) AS x(id, started)`,
      [providerAccount, ids, mine.map((i) => i.startedAt)],
    );
    const overlapped = new Map(overlaps.map((o) => [o.id, o.overlapped]));

    await this.ledger.settleMany(tx, providerAccount, mine.map((i) => ({ id: i.transfer.ledgerTransactionId, data: { transferId: i.transfer.id } })),
      'posted', ACTOR, 'provider confirmed');

    const now = new Date();
    const rows = await tx.query<TransferRow>(
      `UPDATE transfers t SET status = 'posted', lease_expires_at = NULL, failure_reason = NULL,
              provider_code = coalesce(v.code, t.provider_code), provider_message = coalesce(v.message, t.provider_message),
              provider_credit = coalesce(v.credit, t.provider_credit), provider_subaccount_credit = coalesce(v.sub_credit, t.provider_subaccount_credit),
              provider_at = $2, provider_raw = coalesce(v.raw, t.provider_raw)
         FROM unnest($1::uuid[], $3::int[], $4::text[], $5::numeric[], $6::numeric[], $7::jsonb[]) AS v(id, code, message, credit, sub_credit, raw)
        WHERE t.id = v.id RETURNING t.*`,
      [ids, now, mine.map((i) => i.provider.code), mine.map((i) => i.provider.message), mine.map((i) => i.provider.credit),
        mine.map((i) => i.provider.subaccountCredit), mine.map((i) => (i.provider.raw ? JSON.stringify(i.provider.raw) : null))],
    );
    await appendJournalMany(tx, mine.map((i) => ({
      providerAccount, actor: ACTOR, action: 'transfer.posted', entityType: 'transfer', entityId: i.transfer.id, reason: null,
      data: { attempt: i.transfer.attempts, provider: { ...i.provider, raw: undefined } },
    })));

    // Expected = the running balance of this transfer's own account entry on that account:
    // the ledger's posted balance at the point where this transfer was settled.
    await tx.query(
      `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, transfer_id, read_started_at)
       SELECT $1, a.id, 'transfer', v.balance, e.balance_after, v.settled, v.transfer_id, v.read_started_at
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::boolean[], $7::timestamptz[]) WITH ORDINALITY AS v(transfer_id, ltx, code, balance, settled, read_started_at, n)
         JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = v.code
         JOIN postings p ON p.transaction_id = v.ltx AND p.account_id = a.id
         JOIN account_entries e ON e.posting_id = p.id
        ORDER BY v.n`,
      [providerAccount,
        mine.flatMap((i) => [i.transfer.id, i.transfer.id]), mine.flatMap((i) => [i.transfer.ledgerTransactionId, i.transfer.ledgerTransactionId]),
        mine.flatMap((i) => [subaccountCode(i.transfer.subaccount), 'main']),
        mine.flatMap((i) => [i.subaccountBalance.toFixed(), i.mainBalance.toFixed()]),
        mine.flatMap((i) => [true, !overlapped.get(i.transfer.id)]),
        // When the call was sent: the reading lies between it and its answer (docs/in-doubt.md).
        mine.flatMap((i) => [i.startedAt, i.startedAt])],
    );
    const posted = new Map(rows.map((r) => [r.id, toTransfer(r)]));
    return items.map((i) => (current.has(`${i.transfer.id}:${i.transfer.attempts}`) ? posted.get(i.transfer.id) ?? null : null));
  }
}
