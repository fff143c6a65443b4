import { ProviderOutcome, SkippedListEntry, SubaccountListBody, SubaccountListItem } from './provider-outcome';

/** What the pager needs (SmsPartnerClient implements it). */
export interface SubaccountListReader {
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
}

export type SubaccountListing =
  | {
      kind: 'ok';
      /** Every readable entry, once per token, in list order. */
      items: SubaccountListItem[];
      /** Entries the client could not read, with the page they were on. */
      skipped: Array<SkippedListEntry & { page: number }>;
      /** `total` of the last page read. */
      total: number;
      pages: number;
      /** Entries seen (read or skipped) reached `total`; false when an empty page came first. */
      complete: boolean;
      /** Stopped early because `until` matched an entry (then `complete` says nothing). */
      found: boolean;
    }
  | { kind: 'failed'; page: number; problem: string; outcome?: Exclude<ProviderOutcome<SubaccountListBody>, { kind: 'ok' }> };

export interface ListAllOptions {
  /** Guard against a provider that never stops answering pages (default 10,000). */
  maxPages?: number;
  /** Stop at the first entry this accepts (e.g. looking for one token). */
  until?: (item: SubaccountListItem) => boolean;
}

/**
 * The one pager of the provider's sub-account list (20 per page). Stop rule: after each page,
 * stop once the entries seen so far (distinct tokens read, plus entries skipped as unreadable)
 * reach the page's `total`, or at the first page without entries. The listing says whether it
 * is complete; a failed page fails the listing (never a silently partial list).
 */
export async function listAllSubaccounts(reader: SubaccountListReader, opts: ListAllOptions = {}): Promise<SubaccountListing> {
  const maxPages = opts.maxPages ?? 10_000;
  const byToken = new Map<string, SubaccountListItem>();
  const skipped: Array<SkippedListEntry & { page: number }> = [];
  let total = 0;
  for (let page = 1; ; page++) {
    if (page > maxPages) return { kind: 'failed', page, problem: `the sub-account list has more than ${maxPages} pages` };
    const o = await reader.listSubaccounts(page);
    if (o.kind !== 'ok') return { kind: 'failed', page, problem: `page ${page}: ${o.kind === 'rejected' ? `rejected (code ${o.code})` : o.cause}`, outcome: o };
    total = o.body.total;
    const pageSkipped = o.body.skipped ?? [];
    for (const item of o.body.items) {
      if (!byToken.has(item.token)) byToken.set(item.token, item);
      if (opts.until?.(item)) return { kind: 'ok', items: [...byToken.values()], skipped, total, pages: page, complete: false, found: true };
    }
    for (const s of pageSkipped) skipped.push({ ...s, page });
    const seen = byToken.size + skipped.length;
    const emptyPage = o.body.items.length + pageSkipped.length === 0;
    if (seen >= total || emptyPage) return { kind: 'ok', items: [...byToken.values()], skipped, total, pages: page, complete: seen >= total, found: false };
  }
}
