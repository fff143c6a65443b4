import { GroupCommit, Logger } from '@app/common';
import { ProviderOutcome, SubaccountListBody } from '@app/provider';
import { BeforeCallRow, EvidenceQueries } from '../../persistence/evidence.queries';

/** The provider read a probe needs (SmsPartnerClient implements it). */
export interface BalanceProbe {
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
  /** The page the client last saw the token on in any list read (the worker reads the whole list at start). */
  pageSeen?(token: string): number | undefined;
}

export interface BalanceProbesOptions {
  providerAccount: string;
  logger?: Logger;
  maxListPages?: number;
}

/** One list page as read: the tokens it listed, and whether later pages exist. */
interface PageRead { ok: boolean; tokens: Set<string>; more: boolean }

/**
 * Targeted probes: reads sub-accounts' balances from the provider's list (paged; the page each
 * token was last seen on is tried first) and stores them as `probe` observations with the
 * interval they were taken in: exact readings for the evidence rules.
 *
 * A page costs one provider call whatever it lists, so every sub-account it lists is stored,
 * not only the ones asked for: the worker's fresh readings before calls then cost one page per
 * 20 sub-accounts per IN_DOUBT_FRESH_READING_MS instead of a page (or a walk through the list)
 * per call. Probes of a page share its latest read while it is recent enough for them (a
 * fresh reading before a call: IN_DOUBT_FRESH_READING_MS; an in-doubt probe: a read started
 * after it asked), also to learn which page a token is on. Each reading is stored with its
 * true interval, which is all the evidence rules rely on (any set of exact readings with their
 * true intervals, docs/in-doubt.md). A listed sub-account whose call overlapped the read (one
 * executing, or one settled since the read started) is stored unsettled
 * (ObservationsRepository.recordProbes).
 */
export class BalanceProbes {
  private readonly pageOf = new Map<string, number>();
  /** Each page's latest read (one per page at a time): when it started, and what it found. */
  private readonly lastRead = new Map<number, { startedAt: number; read: Promise<PageRead> }>();
  /** The calls about to start while one lookup is in flight are looked up together, in the next one. */
  private readonly beforeCallRows: GroupCommit<string, BeforeCallRow | null>;

  constructor(
    private readonly provider: BalanceProbe,
    private readonly queries: EvidenceQueries,
    private readonly opts: BalanceProbesOptions,
  ) {
    this.beforeCallRows = new GroupCommit(async (providerAccount, ids) => {
      const rows = await this.queries.beforeCall(providerAccount, ids);
      return ids.map((id) => rows.get(id) ?? null);
    });
  }

  /**
   * Probes the tokens; returns how many of them were read and stored. A page read that started
   * at or after `freshSince` (local clock, ms; default: now, i.e. a new read) is used as it is,
   * also while in flight; an older one is read again.
   */
  async probe(tokens: string[], freshSince = Date.now()): Promise<number> {
    const wanted = new Set(tokens);
    // A token's page: where a probe last found it, else where any list read of the client did
    // (without either, the list is walked from page 1).
    const pages = [...new Set(tokens.map((t) => this.pageOf.get(t) ?? this.provider.pageSeen?.(t)).filter((p): p is number => p !== undefined))];
    let stored = 0;
    const visit = async (page: number): Promise<boolean> => {
      const read = await this.readPage(page, freshSince);
      for (const t of read.tokens) if (wanted.delete(t)) stored++;
      return read.ok && read.more;
    };
    for (const p of pages) if (wanted.size) await visit(p);
    const maxPages = this.opts.maxListPages ?? 10_000;
    for (let page = 1; wanted.size && page <= maxPages; page++) {
      if (pages.includes(page)) continue;
      if (!(await visit(page))) break;
    }
    return stored;
  }

  /** The page's last read if it started at or after `freshSince` (done or in flight), else a new one. A failed read is not kept. */
  private readPage(page: number, freshSince: number): Promise<PageRead> {
    const last = this.lastRead.get(page);
    if (last && last.startedAt >= freshSince) return last.read;
    const entry = { startedAt: Date.now(), read: this.fetchPage(page) };
    this.lastRead.set(page, entry);
    const forget = () => { if (this.lastRead.get(page) === entry) this.lastRead.delete(page); };
    entry.read.then((r) => { if (!r.ok) forget(); }, forget);
    return entry.read;
  }

  private async fetchPage(page: number): Promise<PageRead> {
    const started = await this.queries.clock();
    const o = await this.provider.listSubaccounts(page);
    if (o.kind !== 'ok') {
      this.opts.logger?.warn({ page, outcome: o.kind }, 'balance probe: the provider list could not be read; will try again');
      return { ok: false, tokens: new Set(), more: false };
    }
    for (const i of o.body.items) this.pageOf.set(i.token, page);
    if (o.body.items.length) await this.queries.storeProbes(this.opts.providerAccount, o.body.items, started);
    return { ok: true, tokens: new Set(o.body.items.map((i) => i.token)), more: o.body.items.length > 0 && page * Math.max(1, o.body.perPage) < o.body.total };
  }

  /**
   * Right before a transfer's call (IN_DOUBT_FRESH_READING_MS): when its sub-account has no
   * exact reading, or none for `freshMs`, reads it, so that if the call goes in doubt the last
   * reading before it is seconds old (docs/in-doubt.md, "A fresh reading before each call").
   * Never fails the call: a provider that cannot be read is logged and the call goes on.
   */
  async beforeCall(transferId: string, freshMs: number): Promise<boolean> {
    try {
      const row = await this.beforeCallRows.submit(this.opts.providerAccount, transferId);
      if (!row || !row.due || row.busy) return false;
      if (row.last_read && row.db_now.getTime() - row.last_read.getTime() < freshMs) return false;
      // A read of its page taken within freshMs (by another call's probe) serves this one too.
      return (await this.probe([row.token], Date.now() - freshMs)) > 0;
    } catch (err) {
      this.opts.logger?.warn({ transferId, err: String(err) }, 'fresh reading before the call failed; the call goes on');
      return false;
    }
  }
}
