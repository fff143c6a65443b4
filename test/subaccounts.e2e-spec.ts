import { Stack, startStack, TOKENS } from './support/processes';

describe('sub-accounts end to end', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack({ subaccounts: 2, mainBalance: '500.000' }); });
  afterAll(async () => { await stack.close(); });

  it('imports the provider list with opening balances; a second import refreshes without booking again', async () => {
    const token = stack.tokens()[0];
    stack.sandbox.state.setBalance({ token }, '12.345');
    const first = await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
    expect(first.json).toEqual({ total: 2, imported: 2, refreshed: 0, openingBalances: 2, mainOpeningBalance: '500.000', skipped: [] });
    const again = await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin);
    expect(again.json).toEqual({ total: 2, imported: 0, refreshed: 2, openingBalances: 0, mainOpeningBalance: null, skipped: [] });
    const sub = await stack.call('GET', `/v1/subaccounts/${token}`, undefined, TOKENS.viewer);
    expect(sub.json.balance).toEqual({ posted: '12.345', pending: '0.000', available: '12.345' });
    // Journaled once each, although the import ran twice (the test database is shared: filter by account).
    const opening = await stack.db.query(
      `SELECT 1 FROM journal_entries WHERE provider_account_id = $1 AND action = 'ledger_transaction.posted' AND reason LIKE 'opening balance%'`,
      [stack.providerAccount],
    );
    expect(opening).toHaveLength(2);
  });

  it('creates a sub-account at the provider and in the ledger (admin only); a taken email is a 409', async () => {
    const body = { type: 'advanced', email: 'new.customer@example.com', title: 'Acme', isBuyer: true };
    expect((await stack.call('POST', '/v1/subaccounts', body, TOKENS.operator)).status).toBe(403);
    const created = await stack.call('POST', '/v1/subaccounts', body, TOKENS.admin);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ email: 'new.customer@example.com', type: 'advanced', balance: { posted: '0.000' }, observed: null });
    expect(stack.sandbox.state.getSub(created.json.token)?.email).toBe('new.customer@example.com');
    const dup = await stack.call('POST', '/v1/subaccounts', body, TOKENS.admin);
    expect([dup.status, dup.json.error.code]).toEqual([409, 'subaccount_exists']);
    const bad = await stack.call('POST', '/v1/subaccounts', { type: 'advanced', email: 'not-an-email' }, TOKENS.admin);
    expect([bad.status, bad.json.error.code]).toEqual([400, 'validation_failed']);
    const withCredit = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email: 'x@example.com', creditToAttribute: '5' }, TOKENS.admin);
    expect(withCredit.status).toBe(400);
  });

  it('lists with cursor paging', async () => {
    const page1 = await stack.call('GET', '/v1/subaccounts?limit=2', undefined, TOKENS.viewer);
    expect(page1.json.data).toHaveLength(2);
    expect(page1.json.nextCursor).toEqual(expect.any(String));
    const page2 = await stack.call('GET', `/v1/subaccounts?limit=2&cursor=${encodeURIComponent(page1.json.nextCursor)}`, undefined, TOKENS.viewer);
    expect(page2.json.data).toHaveLength(1);
    expect(page2.json.nextCursor).toBeNull();
    const all = [...page1.json.data, ...page2.json.data].map((s: any) => s.token);
    expect(new Set(all).size).toBe(3);
  });
});
