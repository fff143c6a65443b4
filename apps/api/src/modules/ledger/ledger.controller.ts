import { Controller, Inject, Res } from '@nestjs/common';
import { z } from 'zod';
import { balanceAtQuery, journalQuery, ROUTES, statementQuery } from '@app/api-contract';
import { balanceJson } from '@app/ledger';
import { csvCell, journalJson, journalStream } from '@app/persistence';
import { Services, SERVICES } from '@app/services';
import { Endpoint, ValidParam, ValidQuery } from '../../core/endpoint.decorator';

type Reply = { header(k: string, v: string): Reply; send(b: unknown): void };

@Controller()
export class LedgerController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Endpoint(ROUTES.listAccounts)
  async accounts() {
    const rows = await this.s.ledgerQueries.accounts(this.s.providerAccount);
    return { data: rows.map((r) => ({ code: r.code, type: r.kind, balance: balanceJson(r.balance) })), nextCursor: null };
  }

  @Endpoint(ROUTES.accountBalance)
  async balance(@ValidParam('code') code: string, @ValidQuery() q: z.output<typeof balanceAtQuery>) {
    if (q.at) {
      const posted = await this.s.ledgerQueries.postedBalanceAt(this.s.providerAccount, code, q.at);
      return { code, at: q.at.toISOString(), balance: { posted: posted.toFixed() } };
    }
    return { code, at: new Date().toISOString(), balance: balanceJson(await this.s.ledgerQueries.balance(this.s.providerAccount, code)) };
  }

  @Endpoint(ROUTES.accountStatement)
  async statement(@ValidParam('code') code: string, @ValidQuery() q: z.output<typeof statementQuery>, @Res({ passthrough: true }) reply: Reply) {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), 1));
    const st = await this.s.ledgerQueries.statement(this.s.providerAccount, code, from, to);
    if (q.format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="statement-${code.replace(':', '-')}.csv"`);
      const lines = ['posted_at,transaction_id,kind,amount,balance_after,actor,reason', `${from.toISOString()},,opening,,${st.opening.toFixed()},,`];
      for (const l of st.lines) lines.push([l.postedAt.toISOString(), l.transactionId, l.kind, l.amount.toFixed(), l.balanceAfter.toFixed(), l.actor, l.reason].map(csvCell).join(','));
      lines.push(`${to.toISOString()},,closing,,${st.closing.toFixed()},,`);
      return lines.join('\n') + '\n';
    }
    return {
      account: code, from: from.toISOString(), to: to.toISOString(), opening: st.opening.toFixed(), closing: st.closing.toFixed(),
      postings: st.lines.map((l) => ({ postedAt: l.postedAt.toISOString(), transactionId: l.transactionId, kind: l.kind, amount: l.amount.toFixed(), balanceAfter: l.balanceAfter.toFixed(), actor: l.actor, reason: l.reason })),
    };
  }

  @Endpoint(ROUTES.journal)
  async journal(@ValidQuery() q: z.output<typeof journalQuery>, @Res({ passthrough: true }) reply: Reply) {
    if (q.format === 'csv' || q.format === 'jsonl') {
      reply.header('content-type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .header('content-disposition', `attachment; filename="journal.${q.format}"`);
      return journalStream(this.s.ledgerQueries, q.format, { from: q.from, to: q.to, entityType: q.entityType, entityId: q.entity });
    }
    const data = [];
    const after = q.cursor ?? '0';
    for await (const r of this.s.ledgerQueries.journal({ from: q.from, to: q.to, pageSize: q.limit + 1, afterSequence: after, entityType: q.entityType, entityId: q.entity })) {
      data.push(journalJson(r));
      if (data.length > q.limit) break;
    }
    const page = data.slice(0, q.limit);
    return { data: page, nextCursor: data.length > q.limit ? String(page[page.length - 1].sequence) : null };
  }

  @Endpoint(ROUTES.verifyAudit)
  async verify() {
    return this.s.ledgerQueries.verifyJournal();
  }
}
