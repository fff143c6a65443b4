import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DomainError } from '@app/common';
import { BalanceCounters, balanceView, BalanceView, Money } from '@app/ledger';
import { Database } from './database';

export interface AccountBalanceRow { code: string; kind: string; balance: BalanceView }
export interface StatementLine { transactionId: string; postedAt: Date; amount: Money; balanceAfter: Money; kind: string; reason: string | null; actor: string }
export interface Statement { account: string; from: Date; to: Date; opening: Money; closing: Money; lines: StatementLine[] }
export interface VerifyResult { ok: boolean; checked: number; brokenAt: string | null }

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

  private async accountId(providerAccount: string, code: string): Promise<string> {
    const [r] = await this.db.query<{ id: string }>('SELECT id FROM ledger_accounts WHERE provider_account_id = $1 AND code = $2', [providerAccount, code]);
    if (!r) throw new DomainError('account_not_found', `account ${code} does not exist`);
    return r.id;
  }

  /** Posted balance at an instant: the running balance of the last entry at or before it. */
  async postedBalanceAt(providerAccount: string, code: string, at: Date): Promise<Money> {
    const id = await this.accountId(providerAccount, code);
    const [r] = await this.db.query<{ balance_after: string }>(
      `SELECT balance_after FROM account_entries WHERE account_id = $1 AND posted_at <= $2 ORDER BY posted_at DESC, id DESC LIMIT 1`,
      [id, at],
    );
    return r ? Money.parse(r.balance_after) : Money.ZERO;
  }

  async statement(providerAccount: string, code: string, from: Date, to: Date, limit = 10_000): Promise<Statement> {
    // The account and its opening balance (the last entry strictly before `from`) in one
    // round trip; the lines in a second.
    const [head] = await this.db.query<{ id: string; opening: string | null }>(
      `SELECT a.id, (SELECT e.balance_after FROM account_entries e WHERE e.account_id = a.id AND e.posted_at < $3
                      ORDER BY e.posted_at DESC, e.id DESC LIMIT 1) AS opening
         FROM ledger_accounts a WHERE a.provider_account_id = $1 AND a.code = $2`,
      [providerAccount, code, from],
    );
    if (!head) throw new DomainError('account_not_found', `account ${code} does not exist`);
    const { id } = head;
    const opening = head.opening === null ? Money.ZERO : Money.parse(head.opening);
    const rows = await this.db.query<{ transaction_id: string; posted_at: Date; amount: string; balance_after: string; kind: string; reason: string | null; actor: string }>(
      `SELECT e.transaction_id, e.posted_at, e.amount, e.balance_after, t.kind, t.reason, t.actor
         FROM account_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        WHERE e.account_id = $1 AND e.posted_at >= $2 AND e.posted_at < $3
        ORDER BY e.posted_at, e.id LIMIT $4`,
      [id, from, to, limit],
    );
    const lines = rows.map((r) => ({
      transactionId: r.transaction_id, postedAt: r.posted_at, amount: Money.parse(r.amount),
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
   * Recomputes every hash from the canonical form and checks each link of the chain, up to
   * the head as committed when verification starts (writers may append meanwhile).
   */
  async verifyJournal(pageSize = 5000): Promise<VerifyResult> {
    const [head] = await this.db.query<{ sequence: string; hash: string }>('SELECT sequence::text, hash FROM journal_head WHERE id = 1');
    const last = BigInt(head?.sequence ?? '0');
    let prev = '0'.repeat(64);
    let after = '0';
    let checked = 0;
    while (BigInt(after) < last) {
      const rows = await this.db.query<{ sequence: string; prev_hash: string; hash: string; canonical: string }>(
        `SELECT j.sequence::text, j.prev_hash, j.hash, journal_canonical(j) AS canonical
           FROM journal_entries j WHERE j.sequence > $1 AND j.sequence <= $2 ORDER BY j.sequence LIMIT $3`,
        [after, last.toString(), pageSize],
      );
      if (!rows.length) break;
      for (const r of rows) {
        const expected = createHash('sha256').update(`${prev}|${r.canonical}`, 'utf8').digest('hex');
        if (r.prev_hash !== prev || r.hash !== expected || BigInt(r.sequence) !== BigInt(checked + 1)) {
          return { ok: false, checked, brokenAt: r.sequence };
        }
        prev = r.hash;
        checked++;
      }
      after = rows[rows.length - 1].sequence;
    }
    if (BigInt(checked) !== last) {
      // Rows the head counts are missing (deleted from the end of the chain).
      return { ok: false, checked, brokenAt: String(checked + 1) };
    }
    if (checked > 0 && head.hash !== prev) return { ok: false, checked: checked - 1, brokenAt: String(checked) };
    return { ok: true, checked, brokenAt: null };
  }
}

export interface JournalRow {
  sequence: string; provider_account_id: string; recorded_at: Date; actor: string; action: string;
  entity_type: string; entity_id: string; reason: string | null; correlation_id: string | null;
  data: Record<string, unknown>; prev_hash: string; hash: string;
}

const CSV_COLUMNS = ['sequence', 'recorded_at', 'provider_account', 'actor', 'action', 'entity_type', 'entity_id', 'reason', 'correlation_id', 'data', 'prev_hash', 'hash'];

export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function journalCsvLine(r: JournalRow): string {
  return [r.sequence, r.recorded_at, r.provider_account_id, r.actor, r.action, r.entity_type, r.entity_id, r.reason, r.correlation_id, r.data, r.prev_hash, r.hash].map(csvCell).join(',') + '\n';
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
    if (format === 'csv') yield CSV_COLUMNS.join(',') + '\n';
    for await (const r of queries.journal(opts)) yield format === 'csv' ? journalCsvLine(r) : JSON.stringify(journalJson(r)) + '\n';
  }
  return Readable.from(lines());
}
