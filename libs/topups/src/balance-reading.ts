import { Money } from '@app/ledger';
import { Tx, Database } from '@app/persistence';
import { providerFailure, SubaccountReads } from '@app/subaccounts';

/**
 * The sub-account's balance as the provider shows it now: pages through the provider's list
 * until the sub-account appears. null when the whole list does not have it. Provider trouble
 * throws `provider_unavailable` / `provider_rejected`.
 */
export async function readProviderBalance(provider: SubaccountReads, token: string, maxPages = 10_000): Promise<Money | null> {
  let seen = 0;
  for (let page = 1; page <= maxPages; page++) {
    const o = await provider.listSubaccounts(page);
    if (o.kind !== 'ok') throw providerFailure(`reading the balance of ${token} (list page ${page})`, o);
    const item = o.body.items.find((i) => i.token === token);
    if (item) return item.balance;
    seen += o.body.items.length;
    if (o.body.items.length === 0 || seen >= o.body.total) break;
  }
  return null;
}

/**
 * Adds minus removes of the sub-account's transfers still `pending`: recorded, not yet sent,
 * hence in no provider reading taken before this query. (Executing and in-doubt ones may or
 * may not be in it; they are left out.)
 */
export async function pendingNet(q: Tx | Database, providerAccount: string, token: string): Promise<Money> {
  const [row] = await q.query<{ net: string }>(
    `SELECT coalesce(sum(CASE direction WHEN 'add' THEN amount ELSE -amount END), 0) AS net
       FROM transfers WHERE provider_account_id = $1 AND subaccount_token = $2 AND status = 'pending'`,
    [providerAccount, token],
  );
  return Money.parse(row.net);
}
