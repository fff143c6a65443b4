import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { csvDocument, csvRows, DomainError } from '@app/common';
import { BalanceCounters, balanceView, BalanceView, Money } from '@app/ledger';
import { Database } from './database';

export interface AccountBalanceRow { code: string; kind: string; balance: BalanceView }
export interface StatementLine { transactionId: string; postedAt: Date; amount: Money; balanceAfter: Money; kind: string; reason: string | null; actor: string }
export interface Statement { account: string; from: Date; to: Date; opening: Money; closing: Money; lines: StatementLine[] }
export interface VerifyResult { ok: boolean; checked: number; brokenAt: string | null; anchor?: { sequence: string; matches: boolean } }
/** A published (signed) chain head: the chain must still have this hash at this sequence. */
export interface JournalAnchor { sequence: string; hash: string }

const countersOf = (r: { debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string }): BalanceCounters => ({
  debitsPosted: Money.parse(r.debits_posted),
  creditsPosted: Money.parse(r.credits_posted),
  debitsPending: Money.parse(r.debits_pending),
  creditsPending: Money.parse(r.credits_pending),
});

/** Read side of the ledger: balances, history, statements, journal export and verification. */
export class LedgerQueries {
  constructor(private readonly db: Database) {}

  async accounts(providerAccount: string): Promise<AccountBalanceRow[]> {
    const rows = await this.db.query<{ code: string; kind: string; debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string }>(
      `SELECT a.code, a.kind, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending
         FROM ledger_accounts a JOIN balances b ON b.account_id = a.id
        WHERE a.provider_account_id = $1 ORDER BY a.kind <> 'main', a.kind <> 'subaccount', a.code`,
      [providerAccount],
    );
    return rows.map((r) => ({ code: r.code, kind: r.kind, balance: balanceView(countersOf(r)) }));
  }

  async balance(providerAccount: string, code: string): Promise<BalanceView> {
    const [r] = await this.db.query<{ debits_posted: string; credits_posted: string; debits_pending: string; credits_pending: string }>(
      `SELECT b.* FROM balances b JOIN ledger_accounts a ON a.id = b.account_id WHERE a.provider_account_id = $1 AND a.code = $2`,
      [providerAccount, code],
    );
    if (!r) throw new DomainError('account_not_found', `account ${code} does not exist`);
    return balanceView(countersOf(r));
  }

  /**
   * Posted balance at an instant: the running balance of the last entry at or before it. One
   * round trip: the account, and its last entry by the account's time index.
   */
  async postedBalanceAt(providerAccount: string, code: string, at: Date): Promise<Money> {
    const [r] = await this.db.query<{ balance_after: string | null }>(
      `SELECT (SELECT e.balance_after FROM account_entries e WHERE e.account_id = a.id AND e.posted_at <= $3
                ORDER BY e.posted_at DESC, e.id DESC LIMIT 1) AS balance_after
         FROM ledger_accounts a WHERE a.provider_account_id = $1 AND a.code = $2`,
      [providerAccount, code, at],
    );
    if (!r) throw new DomainError('account_not_found', `account ${code} does not exist`);
    return r.balance_after === null ? Money.ZERO : Money.parse(r.balance_after);
  }

  async statement(providerAccount: string, code: string, from: Date, to: Date, limit = 10_000): Promise<Statement> {
    // One round trip: the account, its opening balance (the last entry strictly before
    // `from`), each once, and the lines (none: one row with no line, so that an account
    // without entries is told from a missing one).
    const rows = await this.db.query<{ opening: string | null; transaction_id: string | null; posted_at: Date; amount: string; balance_after: string; kind: string; reason: string | null; actor: string }>(
      `SELECT o.opening, l.transaction_id, l.posted_at, l.amount, l.balance_after, l.kind, l.reason, l.actor
         FROM ledger_accounts a
         LEFT JOIN LATERAL (SELECT e.balance_after AS opening FROM account_entries e WHERE e.account_id = a.id AND e.posted_at < $3
                             ORDER BY e.posted_at DESC, e.id DESC LIMIT 1) o ON true
         LEFT JOIN LATERAL (SELECT e.transaction_id, e.posted_at, e.amount, e.balance_after, t.kind, t.reason, t.actor, e.id
                              FROM account_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                             WHERE e.account_id = a.id AND e.posted_at >= $3 AND e.posted_at < $4
                             ORDER BY e.posted_at, e.id LIMIT $5) l ON true
        WHERE a.provider_account_id = $1 AND a.code = $2
        ORDER BY l.posted_at, l.id`,
      [providerAccount, code, from, to, limit],
    );
    if (!rows.length) throw new DomainError('account_not_found', `account ${code} does not exist`);
    const opening = rows[0].opening === null ? Money.ZERO : Money.parse(rows[0].opening);
    const lines = rows.filter((r) => r.transaction_id !== null).map((r) => ({
      transactionId: r.transaction_id!, postedAt: r.posted_at, amount: Money.parse(r.amount),
      balanceAfter: Money.parse(r.balance_after), kind: r.kind, reason: r.reason, actor: r.actor,
    }));
    const closing = lines.length ? lines[lines.length - 1].balanceAfter : opening;
    return { account: code, from, to, opening, closing, lines };
  }

  /**
   * Streams journal entries in sequence order, a page at a time (keyset paging), so a year of
   * journal never sits in memory.
   */
  async *journal(opts: { from?: Date; to?: Date; pageSize?: number; afterSequence?: string; entityType?: string; entityId?: string } = {}): AsyncGenerator<JournalRow> {
    const pageSize = opts.pageSize ?? 1000;
    let after = opts.afterSequence ?? '0';
    for (;;) {
      const rows = await this.db.query<JournalRow>(
        // ORDER BY the column, qualified: an unqualified "sequence" would be the text output
        // column, and pages in text order ('10' < '9') skip and repeat entries.
        `SELECT j.sequence::text, j.provider_account_id, j.recorded_at, j.actor, j.action, j.entity_type, j.entity_id, j.reason, j.correlation_id, j.data, j.prev_hash, j.hash
           FROM journal_entries j
          WHERE j.sequence > $1 AND ($2::timestamptz IS NULL OR j.recorded_at >= $2) AND ($3::timestamptz IS NULL OR j.recorded_at < $3)
            AND ($5::text IS NULL OR j.entity_type = $5) AND ($6::text IS NULL OR j.entity_id = $6)
          ORDER BY j.sequence LIMIT $4`,
        [after, opts.from ?? null, opts.to ?? null, pageSize, opts.entityType ?? null, opts.entityId ?? null],
      );
      for (const r of rows) yield r;
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1].sequence;
    }
  }

  /**
   * One page of journal lines: the postings of posted transactions of one provider account
   * (their account entries) after entry `afterId`, in entry order. Each transaction's debits
   * add up to its credits.
   */
  async journalLinePage(providerAccount: string, opts: { from?: Date; to?: Date; limit: number; afterId?: string }): Promise<JournalLine[]> {
    const rows = await this.db.query<{ id: string; posted_at: Date; transaction_id: string; kind: string; account: string; amount: string; reason: string | null; reference: string | null; actor: string }>(
      `SELECT e.id::text, e.posted_at, e.transaction_id, t.kind, a.code AS account, e.amount, t.reason, tr.reference, t.actor
         FROM account_entries e
         JOIN ledger_accounts a ON a.id = e.account_id
         JOIN ledger_transactions t ON t.id = e.transaction_id
         LEFT JOIN transfers tr ON tr.ledger_transaction_id = e.transaction_id
        WHERE a.provider_account_id = $1 AND e.id > $2
          AND ($3::timestamptz IS NULL OR e.posted_at >= $3) AND ($4::timestamptz IS NULL OR e.posted_at < $4)
        ORDER BY e.id LIMIT $5`,
      [providerAccount, opts.afterId ?? '0', opts.from ?? null, opts.to ?? null, opts.limit],
    );
    return rows.map((r) => {
      const amount = Money.parse(r.amount);
      return {
        id: r.id, postedAt: r.posted_at, transactionId: r.transaction_id, kind: r.kind, account: r.account,
        debit: amount.isPositive() ? amount : null, credit: amount.isNegative() ? amount.negated() : null,
        memo: r.reason, reference: r.reference, actor: r.actor,
      };
    });
  }

  /** Every journal line, a page at a time (keyset paging), so a year never sits in memory. */
  async *journalLinePages(providerAccount: string, opts: { from?: Date; to?: Date; pageSize?: number } = {}): AsyncGenerator<JournalLine[]> {
    const limit = opts.pageSize ?? 1000;
    let afterId = '0';
    for (;;) {
      const page = await this.journalLinePage(providerAccount, { ...opts, limit, afterId });
      if (page.length) yield page;
      if (page.length < limit) return;
      afterId = page[page.length - 1].id;
    }
  }

  /**
   * Recomputes every hash from the canonical form and checks each link of the chain, up to
   * the head as committed when verification starts (writers may append meanwhile).
   */
  async verifyJournal(pageSize = 5000, anchor?: JournalAnchor): Promise<VerifyResult> {
    const [head] = await this.db.query<{ sequence: string; hash: string }>('SELECT sequence::text, hash FROM journal_head WHERE id = 1');
    const last = BigInt(head?.sequence ?? '0');
    let prev = '0'.repeat(64);
    let after = '0';
    let checked = 0;
    let anchorSeen = false;
    const broken = (at: string | number, extra: Partial<VerifyResult> = {}): VerifyResult => ({ ok: false, checked, brokenAt: String(at), ...extra });
    while (BigInt(after) < last) {
      const rows = await this.db.query<{ sequence: string; prev_hash: string; hash: string; canonical: string }>(
        `SELECT j.sequence::text, j.prev_hash, j.hash, journal_canonical(j) AS canonical
           FROM journal_entries j WHERE j.sequence > $1 AND j.sequence <= $2 ORDER BY j.sequence LIMIT $3`,
        [after, last.toString(), pageSize],
      );
      if (!rows.length) break;
      for (const r of rows) {
        const expected = createHash('sha256').update(`${prev}|${r.canonical}`, 'utf8').digest('hex');
        if (r.prev_hash !== prev || r.hash !== expected || BigInt(r.sequence) !== BigInt(checked + 1)) return broken(r.sequence);
        if (anchor && r.sequence === anchor.sequence) {
          anchorSeen = true;
          // The chain verifies by itself, yet differs from what was published: rewritten
          // (and re-chained) at or before this sequence since the digest was taken.
          if (r.hash !== anchor.hash) return broken(r.sequence, { anchor: { sequence: anchor.sequence, matches: false } });
        }
        prev = r.hash;
        checked++;
      }
      after = rows[rows.length - 1].sequence;
    }
    if (BigInt(checked) !== last) {
      // Rows the head counts are missing (deleted from the end of the chain).
      return broken(checked + 1);
    }
    if (checked > 0 && head.hash !== prev) return { ok: false, checked: checked - 1, brokenAt: String(checked) };
    if (anchor && !anchorSeen) {
      // The chain is shorter than the digest says it was: entries were removed and the head rewound.
      return broken(checked + 1, { anchor: { sequence: anchor.sequence, matches: false } });
    }
    return { ok: true, checked, brokenAt: null, ...(anchor ? { anchor: { sequence: anchor.sequence, matches: true } } : {}) };
  }
}

export interface JournalRow {
  sequence: string; provider_account_id: string; recorded_at: Date; actor: string; action: string;
  entity_type: string; entity_id: string; reason: string | null; correlation_id: string | null;
  data: Record<string, unknown>; prev_hash: string; hash: string;
}

const CSV_COLUMNS = ['sequence', 'recorded_at', 'provider_account', 'actor', 'action', 'entity_type', 'entity_id', 'reason', 'correlation_id', 'data', 'prev_hash', 'hash'];

/** One journal entry as a CSV line (CRLF); `recorded_at` is ISO 8601 in UTC (`Z`). */
export function journalCsvLine(r: JournalRow): string {
  return csvRows([[r.sequence, r.recorded_at, r.provider_account_id, r.actor, r.action, r.entity_type, r.entity_id, r.reason, r.correlation_id, r.data, r.prev_hash, r.hash]]);
}

export function journalJson(r: JournalRow) {
  return {
    sequence: Number(r.sequence), recordedAt: r.recorded_at.toISOString(), providerAccount: r.provider_account_id,
    actor: r.actor, action: r.action, entityType: r.entity_type, entityId: r.entity_id, reason: r.reason,
    correlationId: r.correlation_id, data: r.data, prevHash: r.prev_hash, hash: r.hash,
  };
}

/** A readable stream of the journal as CSV or JSON lines. */
export function journalStream(queries: LedgerQueries, format: 'csv' | 'jsonl', opts: { from?: Date; to?: Date; entityType?: string; entityId?: string }): Readable {
  async function* lines() {
    if (format === 'csv') yield csvRows([CSV_COLUMNS]);
    for await (const r of queries.journal(opts)) yield format === 'csv' ? journalCsvLine(r) : JSON.stringify(journalJson(r)) + '\n';
  }
  return Readable.from(lines());
}

export const STATEMENT_CSV_COLUMNS = ['posted_at', 'transaction_id', 'kind', 'amount', 'balance_after', 'actor', 'reason'];

/** A statement as CSV: an opening line, one line per entry, a closing line; times ISO 8601 UTC. */
export function statementCsv(st: Statement): string {
  return csvDocument(STATEMENT_CSV_COLUMNS, [
    [st.from, null, 'opening', null, st.opening, null, null],
    ...st.lines.map((l) => [l.postedAt, l.transactionId, l.kind, l.amount, l.balanceAfter, l.actor, l.reason]),
    [st.to, null, 'closing', null, st.closing, null, null],
  ]);
}

/** One posting of a posted ledger transaction, as an accountant reads it. */
export interface JournalLine {
  id: string; postedAt: Date; transactionId: string; kind: string; account: string;
  debit: Money | null; credit: Money | null; memo: string | null; reference: string | null; actor: string;
}

/**
 * Journal lines: one row per posting (debit or credit), for pivoting in a spreadsheet. The
 * date column is the UTC calendar day of `posted_at`, which is ISO 8601 with `Z`.
 */
export const JOURNAL_LINES_CSV_COLUMNS = ['date (UTC)', 'posted_at', 'transaction', 'kind', 'account', 'debit', 'credit', 'memo', 'reference', 'actor'];

export function journalLinesCsv(lines: readonly JournalLine[]): string {
  return csvRows(lines.map((l) => [l.postedAt.toISOString().slice(0, 10), l.postedAt, l.transactionId, l.kind, l.account, l.debit, l.credit, l.memo, l.reference, l.actor]));
}

export function journalLineJson(l: JournalLine) {
  return {
    id: l.id, date: l.postedAt.toISOString().slice(0, 10), postedAt: l.postedAt.toISOString(), transactionId: l.transactionId, kind: l.kind,
    account: l.account, debit: l.debit?.toFixed() ?? null, credit: l.credit?.toFixed() ?? null, memo: l.memo, reference: l.reference, actor: l.actor,
  };
}

/** A readable stream of the journal lines as CSV or JSON lines. */
export function journalLinesStream(queries: LedgerQueries, providerAccount: string, format: 'csv' | 'jsonl', opts: { from?: Date; to?: Date }): Readable {
  async function* chunks() {
    if (format === 'csv') yield csvRows([JOURNAL_LINES_CSV_COLUMNS]);
    for await (const page of queries.journalLinePages(providerAccount, opts)) {
      yield format === 'csv' ? journalLinesCsv(page) : page.map((l) => JSON.stringify(journalLineJson(l)) + '\n').join('');
    }
  }
  return Readable.from(chunks());
}
