import { Logger } from '@app/common';
import { ProviderOutcome, SubaccountListBody } from '@app/provider';
import { EvidenceQueries } from '../../persistence/evidence.queries';

/** The provider read a probe needs (SmsPartnerClient implements it). */
export interface BalanceProbe {
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
}

export interface BalanceProbesOptions {
  providerAccount: string;
  logger?: Logger;
  maxListPages?: number;
}

/**
 * Targeted probes: reads sub-accounts' balances from the provider's list (paged; the page each
 * token was last seen on is tried first) and stores each as a `probe` observation with the
 * interval it was taken in. One exact reading each, for the evidence rules.
 */
export class BalanceProbes {
  private readonly pageOf = new Map<string, number>();

  constructor(
    private readonly provider: BalanceProbe,
    private readonly queries: EvidenceQueries,
    private readonly opts: BalanceProbesOptions,
  ) {}

  /** Probes the tokens; returns how many were read and stored. */
  async probe(tokens: string[]): Promise<number> {
    const wanted = new Set(tokens);
    const pages = [...new Set(tokens.map((t) => this.pageOf.get(t)).filter((p): p is number => p !== undefined))];
    let stored = 0;
    const visit = async (page: number): Promise<boolean> => {
      const started = await this.queries.clock();
      const o = await this.provider.listSubaccounts(page);
      if (o.kind !== 'ok') {
        this.opts.logger?.warn({ page, outcome: o.kind }, 'balance probe: the provider list could not be read; will try again');
        return false;
      }
      const found = o.body.items.filter((i) => wanted.has(i.token));
      for (const i of o.body.items) this.pageOf.set(i.token, page);
      if (found.length) {
        await this.queries.storeProbes(this.opts.providerAccount, found, started);
        for (const i of found) wanted.delete(i.token);
        stored += found.length;
      }
      return o.body.items.length > 0 && page * Math.max(1, o.body.perPage) < o.body.total;
    };
    for (const p of pages) if (wanted.size) await visit(p);
    const maxPages = this.opts.maxListPages ?? 10_000;
    for (let page = 1; wanted.size && page <= maxPages; page++) {
      if (pages.includes(page)) continue;
      if (!(await visit(page))) break;
    }
    return stored;
  }

  /**
   * Right before a transfer's call (IN_DOUBT_FRESH_READING_MS): when its sub-account has no
   * exact reading, or none for `freshMs`, reads it, so that if the call goes in doubt the last
   * reading before it is seconds old (docs/in-doubt.md, "A fresh reading before each call").
   * Never fails the call: a provider that cannot be read is logged and the call goes on.
   */
  async beforeCall(transferId: string, freshMs: number): Promise<boolean> {
    try {
      const row = await this.queries.beforeCall(this.opts.providerAccount, transferId);
      if (!row || !row.due || row.busy) return false;
      if (row.last_read && row.db_now.getTime() - row.last_read.getTime() < freshMs) return false;
      return (await this.probe([row.token])) > 0;
    } catch (err) {
      this.opts.logger?.warn({ transferId, err: String(err) }, 'fresh reading before the call failed; the call goes on');
      return false;
    }
  }
}
