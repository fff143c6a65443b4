import { Logger } from '@app/common';
import { listAllSubaccounts, providerFailure } from '@app/provider';
import { SubaccountReads } from '@app/subaccounts';
import { ProviderReading } from '../../domain/evaluate-run';

/** The provider could not be read completely: the run fails with this reason (it is not a crash). */
export class ReadFailure extends Error {}

/**
 * Step 1 of a run: `/me`, then every page of the sub-account list through the provider
 * client's one pager. Any failure, or fewer sub-accounts than `total`, is a ReadFailure.
 * Entries the client had to skip are logged and reported as unreadable.
 */
export async function readProvider(provider: SubaccountReads, opts: { maxListPages?: number; logger?: Logger }): Promise<ProviderReading> {
  const me = await provider.me();
  if (me.kind !== 'ok') throw new ReadFailure(providerFailure('reading /me', me).message);
  const listing = await listAllSubaccounts(provider, { maxPages: opts.maxListPages });
  if (listing.kind === 'failed') {
    throw new ReadFailure(listing.outcome ? providerFailure(`listing sub-accounts (page ${listing.page})`, listing.outcome).message : `listing sub-accounts: ${listing.problem}`);
  }
  if (!listing.complete) {
    throw new ReadFailure(`partial sub-account list: ${listing.items.length + listing.skipped.length} of ${listing.total} sub-accounts returned`);
  }
  if (listing.skipped.length) {
    opts.logger?.warn({ skipped: listing.skipped.map((e) => ({ page: e.page, index: e.index, token: e.token ?? null, reason: e.reason })) },
      'sub-account list entries the provider sent could not be read: those sub-accounts are not compared this run');
  }
  return {
    main: me.body.balance,
    subs: new Map(listing.items.map((i) => [i.token, i.balance])),
    unreadable: new Set(listing.skipped.flatMap((e) => (e.token ? [e.token] : []))),
    unreadableWithoutToken: listing.skipped.filter((e) => !e.token).length,
  };
}
