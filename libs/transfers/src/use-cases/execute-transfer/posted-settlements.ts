import { GroupCommit, Logger } from '@app/common';
import { Money, subaccountCode } from '@app/ledger';
import { Database, inOrder, LedgerRepository, ObservationsRepository, Tx } from '@app/persistence';
import { Transfer } from '../../domain/transfer';
import { JobRef, ProviderColumns, TransfersRepository } from '../../persistence/transfers.repository';
import { attemptEntry } from './attempt-entry';

/** A transfer whose provider call answered `ok`, with what the provider said. */
export interface PostedOutcome {
  transfer: Transfer;
  /** The provider's balances after the call. */
  mainBalance: Money;
  subaccountBalance: Money;
  /** The columns stored on the transfer (code, message, credits, redacted raw answer). */
  provider: ProviderColumns;
  /** When the call started: any other call answered since then overlapped it. */
  startedAt: Date;
}

/** A settled transfer and the next pending one of its sub-account, now free to run. */
export interface Settled { transfer: Transfer; next: JobRef[] }

const ACTOR = 'system:worker';

/**
 * Settlement group commit. Every settlement of a provider account moves `main`'s posted
 * balance row (and the journal chain head), so one database transaction per confirmed call
 * queues the settlements behind each other's lock of that row (recordings lock the pending
 * row, not this one). The posted
 * outcomes that arrive while a settlement is in flight are settled together in the next
 * transaction (`GroupCommit`, as recording does): one update of the transfers, then one
 * statement that locks the posted balance rows and settles the ledger transactions, one of
 * observations and journal entries — `main`'s posted row is taken by the last two
 * statements only, the journal chain head by the last one (with each attempt's entry:
 * claims journal nothing).
 *
 * After the COMMIT, one statement finds the next pending transfer of every sub-account the
 * group settled (what each job enqueues next). It runs after the COMMIT, never inside the
 * transaction: a transfer recorded meanwhile either saw this one still executing when it
 * asked whether it could run (and is then committed before this lookup, which finds it) or
 * saw it posted (and enqueued itself).
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
  private readonly groups: GroupCommit<PostedOutcome, Settled | null>;

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly transfers: TransfersRepository,
    private readonly observations: ObservationsRepository,
    /** The worker's id, written in each attempt's journal entry. */
    private readonly workerId: string,
    private readonly logger?: Logger,
    maxGroup = 64,
  ) {
    this.groups = new GroupCommit((providerAccount, items) => this.settleGroup(providerAccount, items), maxGroup);
  }

  /** The posted transfer and its sub-account's next, or null when this outcome must be applied by the caller alone. */
  submit(outcome: PostedOutcome): Promise<Settled | null> {
    return this.groups.submit(outcome.transfer.providerAccount, outcome);
  }

  private async settleGroup(providerAccount: string, items: PostedOutcome[]): Promise<Array<Settled | null>> {
    let posted: Array<Transfer | null>;
    try {
      posted = await this.db.transaction((tx) => this.settleIn(tx, providerAccount, items), { sqlOnly: true });
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message, transfers: items.length }, 'settlement group failed; settling its transfers one by one');
      return items.map(() => null);
    }
    const settled = posted.filter((t): t is Transfer => t !== null);
    let next: Map<string, JobRef>;
    try {
      next = settled.length ? await this.transfers.nextPendingOf(providerAccount, settled.map((t) => t.subaccount)) : new Map();
    } catch (err) {
      // Posted and committed: the caller must not apply them again. Their next transfers are left to the outbox relay.
      this.logger?.warn({ err: (err as Error).message, transfers: settled.length }, 'next-in-line lookup failed after a settlement; the relay will enqueue');
      next = new Map();
    }
    return posted.map((t) => {
      if (!t) return null;
      const n = next.get(t.subaccount);
      return { transfer: t, next: n ? [n] : [] };
    });
  }

  private async settleIn(tx: Tx, providerAccount: string, items: PostedOutcome[]): Promise<Array<Transfer | null>> {
    // One round trip (pipelined): the transfers locked, then, before any status changes, did
    // another call of this provider account overlap each one? (Asked for every item; only
    // those still in the attempt this worker made are used.)
    const [locked, overlapped] = await inOrder([
      this.transfers.lockExecuting(tx, providerAccount, items.map((i) => i.transfer.id)),
      this.transfers.overlapped(tx, providerAccount, items.map((i) => ({ id: i.transfer.id, startedAt: i.startedAt }))),
    ]);
    const current = new Set(locked.map((r) => `${r.transferId}:${r.attempt}`));
    const mine = items.filter((i) => current.has(`${i.transfer.id}:${i.transfer.attempts}`));
    if (!mine.length) return items.map(() => null);

    // The transfers first; `main`'s posted row last, held for the settlement, the
    // observations with the journal (one statement) and the COMMIT; the journal chain head
    // for that last statement and the COMMIT only. The transfers' update and the settlement
    // are sent together (in that order); the journal statement needs the settlement's answer.
    const [rows] = await inOrder([
      this.transfers.markPostedMany(tx, new Date(), mine.map((i) => ({ id: i.transfer.id, provider: i.provider }))),
      this.ledger.settleMany(tx, providerAccount, mine.map((i) => ({ id: i.transfer.ledgerTransactionId, data: { transferId: i.transfer.id } })),
      'posted', ACTOR, 'provider confirmed', {
        // Each attempt's entry, then its outcome's (the claim journals nothing: attempt-entry.ts).
        alsoJournal: mine.flatMap((i) => [attemptEntry(i.transfer, this.workerId, i.startedAt), {
          providerAccount, actor: ACTOR, action: 'transfer.posted', entityType: 'transfer', entityId: i.transfer.id, reason: null,
          data: { attempt: i.transfer.attempts, provider: { ...i.provider, raw: undefined } },
        }]),
        // Expected = the running balance of this transfer's own account entry on that account:
        // the ledger's posted balance at the point where this transfer was settled.
        journalWith: (journal) => this.observations.recordSettlementReadings(tx, providerAccount, mine.flatMap((i) => {
          // When the call was sent: the reading lies between it and its answer (docs/in-doubt.md).
          const call = { transferId: i.transfer.id, ledgerTransactionId: i.transfer.ledgerTransactionId, readStartedAt: i.startedAt };
          return [
            { ...call, code: subaccountCode(i.transfer.subaccount), balance: i.subaccountBalance, settled: true },
            { ...call, code: 'main', balance: i.mainBalance, settled: !overlapped.get(i.transfer.id) },
          ];
        }), journal),
      }),
    ]);
    const posted = new Map(rows.map((t) => [t.id, t]));
    return items.map((i) => (current.has(`${i.transfer.id}:${i.transfer.attempts}`) ? posted.get(i.transfer.id) ?? null : null));
  }
}
