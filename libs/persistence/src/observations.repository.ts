import { Money, subaccountCode } from '@app/ledger';
import { Queryable, Tx } from './database';
import { journalInsertSql, JournalInput, journalRows } from './journal';

/** One provider reading of an account, with what the ledger expected at that point. */
export interface AccountReading {
  /** The ledger account code (`main`, `sub:<token>`). */
  code: string;
  balance: Money;
  /** False when another call may have moved the figure while it was read. */
  settled: boolean;
}

/**
 * The one writer of `observations` (the provider's balance readings). The table is written by
 * the transfer pipeline (the balances a credit call answers), the sub-account import (the
 * provider's list) and reconciliation, and read by the evidence rules, reconciliation and the
 * sub-account views. It lives here, beside the ledger, because every reading is stored with
 * the ledger's own figure for the account at that point (`expected`, from `balances` or the
 * running balance of an `account_entries` row): a reading means nothing without the ledger
 * it is compared with, and every library that writes one already depends on the ledger's store.
 */
export class ObservationsRepository {
  /**
   * Readings taken now: `expected` is the account's posted balance at this point of the
   * caller's transaction.
   */
  async recordReadings(tx: Tx, r: { providerAccount: string; source: 'transfer' | 'list'; transferId?: string | null; readStartedAt: Date; readings: AccountReading[] }): Promise<void> {
    if (!r.readings.length) return;
    await tx.query(
      `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, transfer_id, read_started_at)
       SELECT $1, a.id, $2, v.balance, b.debits_posted - b.credits_posted, v.settled, $3, $4
         FROM unnest($5::text[], $6::numeric[], $7::boolean[]) WITH ORDINALITY AS v(code, balance, settled, n)
         JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = v.code
         JOIN balances b ON b.account_id = a.id
        ORDER BY v.n`,
      [r.providerAccount, r.source, r.transferId ?? null, r.readStartedAt, r.readings.map((x) => x.code), r.readings.map((x) => x.balance.toFixed()),
        r.readings.map((x) => x.settled)],
    );
  }

  /**
   * A reconciliation run's reading (`me` / `list`), the expected balances computed by the run
   * (its snapshot of the ledger); the id and instant of each observation, by account id.
   */
  async recordRunReadings(tx: Tx, providerAccount: string, readStartedAt: Date, rows: ReadonlyArray<{ accountId: string; source: string; balance: Money; expected: Money; settled: boolean }>): Promise<Map<string, { id: string; at: Date }>> {
    const inserted = await tx.query<{ id: string; account_id: string; observed_at: Date }>(
      `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, read_started_at)
       SELECT $1, t.account_id, t.source, t.balance, t.expected, t.settled, $7
         FROM unnest($2::bigint[], $3::text[], $4::numeric[], $5::numeric[], $6::boolean[]) AS t(account_id, source, balance, expected, settled)
       RETURNING id::text, account_id::text, observed_at`,
      [providerAccount, rows.map((a) => a.accountId), rows.map((a) => a.source), rows.map((a) => a.balance.toFixed()),
        rows.map((a) => a.expected.toFixed()), rows.map((a) => a.settled), readStartedAt],
    );
    return new Map(inserted.map((r) => [r.account_id, { id: r.id, at: r.observed_at }]));
  }

  /**
   * Probe readings of sub-accounts (`probe`) taken in [startedAt, now], with the ledger's posted
   * balance at that point. Not settled when a call of the sub-account overlapped the read: one
   * is executing, or one was settled (its answer stored) since `startedAt` — the ledger's
   * balance then counts a movement the reading may not show.
   */
  async recordProbes(q: Queryable, providerAccount: string, balances: Array<{ token: string; balance: Money }>, startedAt: Date): Promise<void> {
    await q.query(
      `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, read_started_at)
       SELECT $1, a.id, 'probe', v.balance, b.debits_posted - b.credits_posted,
              NOT EXISTS (SELECT 1 FROM transfers e WHERE e.provider_account_id = $1 AND e.subaccount_token = v.token AND e.status = 'executing')
              AND NOT EXISTS (SELECT 1 FROM observations s WHERE s.account_id = a.id AND s.source = 'transfer' AND s.observed_at >= $4), $4
         FROM unnest($2::text[], $3::numeric[], $5::text[]) AS v(token, balance, code)
         JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = v.code
         JOIN balances b ON b.account_id = a.id`,
      [providerAccount, balances.map((i) => i.token), balances.map((i) => i.balance.toFixed()), startedAt, balances.map((i) => subaccountCode(i.token))],
    );
  }

  /**
   * The readings a group of settled transfers answered (source `transfer`). Expected = the
   * running balance of the transfer's own account entry on that account: the ledger's posted
   * balance at the point where that transfer was settled, whatever else the group settled.
   */
  async recordSettlementReadings(tx: Tx, providerAccount: string, rows: Array<AccountReading & { transferId: string; ledgerTransactionId: string; readStartedAt: Date }>,
    journal: JournalInput[] = []): Promise<void> {
    if (!rows.length && !journal.length) return;
    const insert = `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, transfer_id, read_started_at)
       SELECT $1, a.id, 'transfer', v.balance, e.balance_after, v.settled, v.transfer_id, v.read_started_at
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::boolean[], $7::timestamptz[]) WITH ORDINALITY AS v(transfer_id, ltx, code, balance, settled, read_started_at, n)
         JOIN ledger_accounts a ON a.provider_account_id = $1 AND a.code = v.code
         JOIN postings p ON p.transaction_id = v.ltx AND p.account_id = a.id
         JOIN account_entries e ON e.posting_id = p.id
        ORDER BY v.n`;
    const params = [providerAccount, rows.map((r) => r.transferId), rows.map((r) => r.ledgerTransactionId), rows.map((r) => r.code), rows.map((r) => r.balance.toFixed()),
      rows.map((r) => r.settled), rows.map((r) => r.readStartedAt)];
    // With journal entries (the settlement's), one statement for both.
    if (!journal.length) await tx.query(insert, params);
    else await tx.query(`WITH readings AS (${insert}) ${journalInsertSql(8)}`, [...params, ...journalRows(journal)]);
  }
}
