import { Money } from '@app/ledger';
import { FaultRuleInput } from '@app/sandbox';
import { Stack, startStack, TOKENS, waitFor } from '../support/processes';
import { checkInvariants, HEALTHY, reconcile } from './support/invariants';

/**
 * One provider fault per scenario, against the real api + worker processes and the sandbox.
 * Each scenario uses its own sub-account, so a reconciliation run settles its in-doubt
 * transfer unambiguously; the invariants (ledger, audit chain, money trail) are checked
 * after every scenario. These sub-accounts never spend and have no history: the stated
 * bound is the floor alone (IN_DOUBT_MIN_HISTORY_WINDOWS=0, IN_DOUBT_SPEND_FLOOR=0.5, below
 * every amount here), so "not applied" adds and "applied" removes are decided by the
 * plausibility rule, the others by the sign rule (docs/in-doubt.md).
 */
describe('provider faults: each ends in the right state with the money where the sandbox says', () => {
  let stack: Stack;
  let tokens: string[];
  let nextSub = 0;
  const sub = () => tokens[nextSub++];

  beforeAll(async () => {
    stack = await startStack({
      subaccounts: 16,
      env: {
        PROVIDER_TIMEOUT_MS: '1000', EXECUTION_LEASE_MS: '3000', PROVIDER_RETRY_BASE_MS: '20', RECONCILE_IN_DOUBT_GRACE_MS: '0', RECONCILE_CRON: '0 0 1 1 *',
        IN_DOUBT_MIN_HISTORY_WINDOWS: '0', IN_DOUBT_SPEND_FLOOR: '0.5',
      },
    });
    expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).status).toBe(200);
    tokens = stack.tokens();
  });
  afterAll(async () => { await stack?.close(); });
  afterEach(async () => {
    stack.sandbox.faults.clear();
    expect(await checkInvariants(stack)).toMatchObject(HEALTHY);
  });

  /** Records a transfer whose (first) provider call meets `rule`, and waits for it to settle. */
  async function transferMeeting(rule: Omit<FaultRuleInput, 'route'> | null, token: string, amount: string, direction: 'add' | 'remove' = 'add') {
    if (rule) stack.sandbox.faults.add({ route: direction, count: 1, ...rule } as FaultRuleInput);
    const created = await stack.call('POST', '/v1/transfers', { subaccount: token, direction, amount }, TOKENS.operator);
    expect(created.status).toBe(202);
    let t: any;
    await waitFor(async () => {
      t = (await stack.call('GET', `/v1/transfers/${created.json.id}`, undefined, TOKENS.viewer)).json;
      return !['pending', 'executing'].includes(t.status);
    }, 15_000, `transfer ${created.json.id} to settle`, 50);
    return t;
  }

  const applied = (token: string, amount: string) => stack.sandbox.state.log.filter((e) => e.token === token && e.route !== 'create' && Money.parse(e.amount).equals(Money.parse(amount)));
  const subBalance = (token: string) => stack.sandbox.state.getSub(token)!.balance.toFixed();
  const get = async (id: string) => (await stack.call('GET', `/v1/transfers/${id}`, undefined, TOKENS.viewer)).json;

  it('a latency spike under the client timeout: posted on the first attempt', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'latency', ms: 600 }, token, '1.100');
    expect(t).toMatchObject({ status: 'posted', attempts: 1, provider: { code: 200, subaccountCredit: '1.100' } });
    expect(applied(token, '1.100')).toHaveLength(1);
  });

  it('a latency spike past the client timeout, applied after it: in doubt, then reconciliation posts it', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'latency', ms: 1_600 }, token, '1.200');
    expect(t).toMatchObject({ status: 'in_doubt', attempts: 1 });
    expect(t.failureReason).toMatch(/timeout|abort/i);
    // The provider applies once its delay is over; the ledger still holds the reservation.
    await waitFor(() => applied(token, '1.200').length === 1, 5_000, 'the sandbox to apply the slow call');
    const run = await reconcile(stack);
    expect(run.items.find((i: any) => i.account === `sub:${token}`).status).toBe('resolved_in_doubt');
    expect(await get(t.id)).toMatchObject({ status: 'posted', resolution: { outcome: 'applied', by: 'system:reconciliation' } });
    expect(subBalance(token)).toBe('1.200');
  });

  it('applied, answer after the timeout (apply_then_delay): in doubt, then reconciliation posts it', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'apply_then_delay', ms: 2_500 }, token, '1.300');
    expect(t.status).toBe('in_doubt');
    expect(applied(token, '1.300')).toHaveLength(1);
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'posted', resolution: { outcome: 'applied' } });
  });

  it('applied, connection dropped (remove): in doubt, then reconciliation posts it', async () => {
    const token = sub();
    expect((await transferMeeting(null, token, '5.000')).status).toBe('posted');
    const t = await transferMeeting({ fault: 'apply_then_drop' }, token, '1.400', 'remove');
    expect(t.status).toBe('in_doubt');
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'posted', resolution: { outcome: 'applied' } });
    expect(subBalance(token)).toBe('3.600');
  });

  it('connection dropped before applying: in doubt (it might have been applied), then reconciliation voids it', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'drop_before_apply' }, token, '1.500');
    expect(t).toMatchObject({ status: 'in_doubt', attempts: 1 });
    expect(applied(token, '1.500')).toHaveLength(0);
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied', by: 'system:reconciliation' } });
    const bal = await stack.call('GET', `/v1/subaccounts/${token}`, undefined, TOKENS.viewer);
    expect(bal.json.balance).toMatchObject({ posted: '0.000', pending: '0.000' });
  });

  it('HTTP 429 with Retry-After: retried no sooner than the provider asked, then posted', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'http_429', retryAfterSeconds: 2 }, token, '1.600');
    expect(t).toMatchObject({ status: 'posted', attempts: 2 });
    const refused = stack.sandbox.faults.decisions.find((d) => d.fault === 'http_429')!;
    const [entry] = applied(token, '1.600');
    expect(entry).toBeDefined();
    const gapMs = Date.parse(entry.at) - Date.parse(refused.at);
    expect(gapMs).toBeGreaterThanOrEqual(2_000);
    expect(gapMs).toBeLessThan(6_000);
  });

  it('HTTP 429 without Retry-After: retried after the (short) backoff, then posted', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'http_429' }, token, '1.700');
    expect(t).toMatchObject({ status: 'posted', attempts: 2 });
    const refused = stack.sandbox.faults.decisions.find((d) => d.fault === 'http_429')!;
    const [entry] = applied(token, '1.700');
    // PROVIDER_RETRY_BASE_MS is 20 here: far below the 2 s of the Retry-After case above.
    expect(Date.parse(entry.at) - Date.parse(refused.at)).toBeLessThan(2_000);
  });

  it('429 on every attempt: failed as provider_unreachable after PROVIDER_MAX_ATTEMPTS, nothing applied', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'http_429', count: 5 }, token, '1.750');
    expect(t).toMatchObject({ status: 'failed', attempts: 5, failureReason: 'provider_unreachable' });
    expect(applied(token, '1.750')).toHaveLength(0);
  });

  it.each(['http_500', 'http_502', 'http_503'] as const)('%s: in doubt (never retried blindly), then reconciliation voids it', async (fault) => {
    const token = sub();
    const amount = { http_500: '1.801', http_502: '1.802', http_503: '1.803' }[fault];
    const t = await transferMeeting({ fault }, token, amount);
    expect(t).toMatchObject({ status: 'in_doubt', attempts: 1, provider: { code: Number(fault.slice(5)) } });
    expect(applied(token, amount)).toHaveLength(0);
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied' } });
  });

  it('malformed JSON (truncated body): in doubt, then reconciliation voids it', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'malformed_body' }, token, '1.900');
    expect(t).toMatchObject({ status: 'in_doubt', attempts: 1 });
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied' } });
  });

  it('an HTML error page: in doubt, then reconciliation voids it', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'html_error' }, token, '2.100');
    expect(t).toMatchObject({ status: 'in_doubt', provider: { code: 502 } });
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied' } });
  });

  it('success:true with the balances missing (applied): in doubt, then reconciliation posts it', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'missing_fields' }, token, '2.200');
    expect(t.status).toBe('in_doubt');
    expect(applied(token, '2.200')).toHaveLength(1);
    await reconcile(stack);
    expect(await get(t.id)).toMatchObject({ status: 'posted', resolution: { outcome: 'applied' } });
    expect(subBalance(token)).toBe('2.200');
  });

  it('a provider refusal (success:false with a code): failed at once, reservation released', async () => {
    const token = sub();
    const t = await transferMeeting({ fault: 'error_code', code: 96, message: 'IP not allowed' }, token, '2.300');
    expect(t).toMatchObject({ status: 'failed', attempts: 1, provider: { code: 96, message: 'IP not allowed' } });
    const bal = await stack.call('GET', `/v1/subaccounts/${token}`, undefined, TOKENS.viewer);
    expect(bal.json.balance.pending).toBe('0.000');
  });
});
