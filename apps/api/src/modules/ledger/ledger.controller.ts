import { Controller, Inject, Res } from '@nestjs/common';
import { z } from 'zod';
import { balanceAtQuery, digestListQuery, journalLinesQuery, journalQuery, ROUTES, statementQuery, verifyAuditInput } from '@app/api-contract';
import { Cursors, fetchSize, pageOf } from '@app/common';
import { balanceJson } from '@app/ledger';
import { Config, CONFIG } from '@app/config';
import { JournalDigests, journalJson, journalLineJson, journalLinesStream, journalStream, LedgerQueries, statementCsv } from '@app/persistence';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal } from '../../core/principal.decorator';

type Reply = { header(k: string, v: string): Reply; send(b: unknown): void };

@Controller()
export class LedgerController {
  private readonly providerAccount: string;

  constructor(@Inject(CONFIG) config: Config, private readonly ledgerQueries: LedgerQueries, private readonly journalDigests: JournalDigests) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  @Endpoint(ROUTES.listAccounts)
  async accounts() {
    const rows = await this.ledgerQueries.accounts(this.providerAccount);
    return { data: rows.map((r) => ({ code: r.code, type: r.kind, balance: balanceJson(r.balance) })), nextCursor: null };
  }

  @Endpoint(ROUTES.accountBalance)
  async balance(@ValidParam('code') code: string, @ValidQuery() q: z.output<typeof balanceAtQuery>) {
    if (q.at) {
      const posted = await this.ledgerQueries.postedBalanceAt(this.providerAccount, code, q.at);
      return { code, at: q.at.toISOString(), balance: { posted: posted.toFixed() } };
    }
    return { code, at: new Date().toISOString(), balance: balanceJson(await this.ledgerQueries.balance(this.providerAccount, code)) };
  }

  @Endpoint(ROUTES.accountStatement)
  async statement(@ValidParam('code') code: string, @ValidQuery() q: z.output<typeof statementQuery>, @Res({ passthrough: true }) reply: Reply) {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), 1));
    const st = await this.ledgerQueries.statement(this.providerAccount, code, from, to);
    if (q.format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="statement-${code.replace(':', '-')}.csv"`);
      return statementCsv(st);
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
      return journalStream(this.ledgerQueries, q.format, { from: q.from, to: q.to, entityType: q.entityType, entityId: q.entity });
    }
    const rows = [];
    const after = q.cursor === undefined ? '0' : Cursors.sequence.decode(q.cursor);
    for await (const r of this.ledgerQueries.journal({ from: q.from, to: q.to, pageSize: fetchSize(q.limit), afterSequence: after, entityType: q.entityType, entityId: q.entity })) {
      rows.push(journalJson(r));
      if (rows.length >= fetchSize(q.limit)) break;
    }
    return pageOf(rows, q.limit, (last) => Cursors.sequence.encode(last.sequence));
  }

  @Endpoint(ROUTES.journalLines)
  async journalLines(@ValidQuery() q: z.output<typeof journalLinesQuery>, @Res({ passthrough: true }) reply: Reply) {
    if (q.format === 'csv' || q.format === 'jsonl') {
      reply.header('content-type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .header('content-disposition', `attachment; filename="journal-lines.${q.format}"`);
      return journalLinesStream(this.ledgerQueries, this.providerAccount, q.format, { from: q.from, to: q.to });
    }
    const lines = await this.ledgerQueries.journalLinePage(this.providerAccount, { from: q.from, to: q.to, limit: q.limit + 1, afterId: q.cursor });
    const page = lines.slice(0, q.limit).map(journalLineJson);
    return { data: page, nextCursor: lines.length > q.limit ? page[page.length - 1].id : null };
  }

  @Endpoint(ROUTES.verifyAudit)
  async verify() {
    return this.ledgerQueries.verifyJournal();
  }

  @Endpoint(ROUTES.verifyAuditDigest, 200)
  async verifyDigest(@ValidBody() body: z.output<typeof verifyAuditInput> | undefined) {
    if (!body) return this.ledgerQueries.verifyJournal();
    const { version, sequence, hash, at, keyId, publicKey, signature } = body.digest;
    return this.journalDigests.verify({ version, sequence, hash, at, keyId, publicKey, signature });
  }

  @Endpoint(ROUTES.takeJournalDigest, 201)
  async takeDigest(@CurrentPrincipal() who: Principal) {
    return this.journalDigests.take('request', who.actor);
  }

  @Endpoint(ROUTES.listJournalDigests)
  async digests(@ValidQuery() q: z.output<typeof digestListQuery>) {
    const page = await this.journalDigests.list(q);
    return { ...(this.journalDigests.publicKey ?? { publicKey: null, keyId: null }), ...page };
  }
}
