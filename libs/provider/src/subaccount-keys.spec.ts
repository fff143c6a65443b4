/** SubaccountKeyAwareCredits against the real sandbox over HTTP: the list it reads at start, and its one re-read for an unknown token. */
import { Money } from '@app/ledger';
import { createSandboxServer, SandboxServer } from '@app/sandbox';
import { SmsPartnerClient } from './smspartner.client';
import { SubaccountKeyAwareCredits } from './subaccount-keys';

const KEY = 'keys-main-key-123456';
let s: SandboxServer;
let client: SmsPartnerClient;

beforeAll(async () => {
  s = await createSandboxServer({ port: 0, seed: { seed: 5, accounts: [{ apiKey: KEY, balance: '100', subaccounts: 45 }] } });
  client = new SmsPartnerClient({ baseUrl: s.providerBaseUrl, apiKey: KEY, timeoutMs: 1500 });
});
afterAll(async () => s.close());

it('reads every page of the list once at start, and the list once more (only) for a refused token it never saw', async () => {
  const pages: number[] = [];
  const keys = new SubaccountKeyAwareCredits({
    addCredit: (t, a) => client.addCredit(t, a),
    removeCredit: (t, a) => client.removeCredit(t, a),
    listSubaccounts: (p) => { pages.push(p); return client.listSubaccounts(p); },
  });
  await keys.learnAll();
  // 45 sub-accounts, 20 a page.
  expect([...pages].sort()).toEqual([1, 2, 3]);

  // The last page's sub-account is known: its refusal is answered as it is.
  const last = s.state.subaccountsOf(KEY)[44].token;
  expect((await keys.removeCredit(last, Money.parse('1000'))).kind).toBe('rejected');
  expect(pages).toHaveLength(3);

  // A token the list never showed: read again, once.
  expect((await keys.removeCredit('not-on-the-list', Money.parse('1'))).kind).toBe('rejected');
  expect(pages).toHaveLength(6);
  await keys.removeCredit('not-on-the-list', Money.parse('1'));
  expect(pages).toHaveLength(6);
});
