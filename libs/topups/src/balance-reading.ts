import { DomainError } from '@app/common';
import { Money } from '@app/ledger';
import { listAllSubaccounts, providerFailure } from '@app/provider';
import { SubaccountReads } from '@app/subaccounts';

/**
 * The sub-account's balance as the provider shows it now: pages through the provider's list
 * until the sub-account appears. null when the whole list does not have it. Provider trouble
 * throws `provider_unavailable` / `provider_rejected`.
 */
export async function readProviderBalance(provider: SubaccountReads, token: string, maxPages = 10_000): Promise<Money | null> {
  const listing = await listAllSubaccounts(provider, { maxPages, until: (i) => i.token === token });
  if (listing.kind === 'failed') {
    const what = `reading the balance of ${token} (list page ${listing.page})`;
    throw listing.outcome ? providerFailure(what, listing.outcome) : new DomainError('provider_unavailable', `${what}: ${listing.problem}`);
  }
  const found = listing.found ? listing.items.find((i) => i.token === token) : undefined;
  if (found) return found.balance;
  // Listed but unreadable (e.g. a null balance): not "absent", a provider answer we cannot use.
  const odd = listing.skipped.find((s) => s.token === token);
  if (odd) throw new DomainError('provider_unavailable', `reading the balance of ${token}: the provider's list entry is unreadable (${odd.reason})`);
  return null;
}
