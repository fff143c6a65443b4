import Decimal from 'decimal.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandboxServer, SandboxSeed, SandboxServer, SandboxState, SpendingEvent } from './index';

const KEY = 'spend-main-key';
const T0 = Date.parse('2026-12-01T10:00:00.000Z');

/** A sandbox on a clock the test moves; no timer (requests and advance() apply the steps due). */
async function start(seed: SandboxSeed, extra: { stateFile?: string } = {}) {
  const clock = { ms: T0 };
  const server = await createSandboxServer({ port: 0, seed, now: () => new Date(clock.ms), spendingTimer: false, ...extra });
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(server.url + path, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, text, json };
  };
  const tokens = () => server.state.subaccountsOf(KEY).map((s) => s.token);
  const events = async (): Promise<SpendingEvent[]> => (await call('GET', '/__sandbox/spending/log')).json;
  return { server, clock, call, tokens, events, close: () => server.close() };
}
type Sb = Awaited<ReturnType<typeof start>>;

const seedWith = (subaccounts: SandboxSeed['accounts'][number]['subaccounts'], extra: Partial<SandboxSeed['accounts'][number]> = {}, spending?: SandboxSeed['spending']): SandboxSeed => ({
  seed: 'spending-spec',
  accounts: [{ apiKey: KEY, balance: '1000.000', subaccounts, ...extra }],
  ...(spending ? { spending } : {}),
});

const sum = (xs: string[]) => xs.reduce((a, x) => a.plus(x), new Decimal(0)).toFixed(3);
const usageOf = (evs: SpendingEvent[], token: string) => evs.filter((e) => e.token === token && e.kind === 'usage');

let sb: Sb | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

describe('spending simulation', () => {
  it('applies a sub-account rate in whole-SMS steps on the injected clock', async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '100' }, { email: 'b@x.test', balance: '100' }], { subaccountSpending: { ratePerSecond: '0.09' } }));
    expect(await sb.events()).toEqual([]);
    sb.clock.ms += 60_000;
    // The request itself applies the steps due: no timer, no explicit advance.
    const list = await sb.call('GET', `/v1/subaccount/list?apiKey=${KEY}`);
    const evs = await sb.events();
    for (const token of sb.tokens()) {
      const used = usageOf(evs, token);
      const sms = used.reduce((a, e) => a + e.sms!, 0);
      // 0.09 €/s at 0.045 = 2 SMS/s: 120 SMS in 60 s on average (each step's draw is 0.5..1.5 × the mean).
      expect(sms).toBeGreaterThanOrEqual(105);
      expect(sms).toBeLessThanOrEqual(135);
      for (const e of used) {
        expect(Number.isInteger(e.sms) && e.sms! >= 1).toBe(true);
        expect(new Decimal('0.045').times(e.sms!).toFixed(3)).toBe(e.amount);
        expect(e.balanceAfter).toMatch(/^\d+\.\d{3}$/);
        expect(Date.parse(e.at)).toBeGreaterThan(T0);
        expect(Date.parse(e.at)).toBeLessThanOrEqual(T0 + 60_000);
        expect((Date.parse(e.at) - T0) % 250).toBe(0);
      }
      const expected = new Decimal('100').minus(sum(used.map((e) => e.amount))).toFixed(3);
      expect(sb.server.state.getSub(token)!.balance.toFixed()).toBe(expected);
      expect(list.json.data.find((d: { token: string }) => d.token === token).credits.balance).toBe(expected);
      expect(used.at(-1)!.balanceAfter).toBe(expected);
    }
    // Nothing on the main account (no rule for it).
    expect(sb.server.state.getMain(KEY)!.balance.toFixed()).toBe('1000.000');
  });

  it('takes smsPerMinute × pricePerSms as the rate, on the main account too', async () => {
    sb = await start(seedWith(0, { spending: { smsPerMinute: 120, pricePerSms: '0.05' } }));
    expect((await sb.call('GET', '/__sandbox/spending')).json.mains[KEY]).toEqual({ ratePerSecond: '0.1', pricePerSms: '0.050', smsPerMinute: '120' });
    sb.clock.ms += 30_000;
    const me = await sb.call('GET', `/v1/me?apiKey=${KEY}`);
    const evs = await sb.events();
    const sms = evs.reduce((a, e) => a + e.sms!, 0);
    expect(sms).toBeGreaterThanOrEqual(52);
    expect(sms).toBeLessThanOrEqual(68);
    expect(evs.every((e) => e.account === 'main' && e.apiKey === KEY && e.source === 'simulation')).toBe(true);
    expect(me.json.credits.balance).toBe(new Decimal('1000').minus(new Decimal('0.05').times(sms)).toFixed(3));
  });

  it('never takes a balance below zero: stops at the last whole SMS the balance pays', async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '0.100' }], { subaccountSpending: { ratePerSecond: '1' } }));
    const [token] = sb.tokens();
    sb.clock.ms += 10_000;
    sb.server.state.spending.advance();
    const evs = await sb.events();
    expect(sum(evs.map((e) => e.amount))).toBe('0.090');
    expect(evs.every((e) => !new Decimal(e.balanceAfter).isNegative())).toBe(true);
    expect(sb.server.state.getSub(token)!.balance.toFixed()).toBe('0.010');
    // The provider, not the simulation, refuses what the balance cannot cover.
    const r = await sb.call('POST', '/v1/subaccount/credit/remove', { apiKey: KEY, tokenSubaccount: token, credit: '0.011' });
    expect(r.json).toMatchObject({ success: false, code: 8 });
    // Credit added later is spent again.
    await sb.call('POST', '/v1/subaccount/credit/add', { apiKey: KEY, tokenSubaccount: token, credit: '1' });
    sb.clock.ms += 500;
    sb.server.state.spending.advance();
    const later = (await sb.events()).slice(evs.length);
    expect(later.length).toBeGreaterThan(0);
    expect(sb.server.state.getSub(token)!.balance.toFixed()).toBe(new Decimal('1.010').minus(sum(later.map((e) => e.amount))).toFixed(3));
  });

  it('is deterministic: same seed and same clock readings give the same log; another spending seed another', async () => {
    const script = async (spendingSeed: string) => {
      const s = await start(seedWith([{ email: 'a@x.test', balance: '50' }, { email: 'b@x.test', balance: '50', isBuyer: true }],
        { spending: { ratePerSecond: '0.02', purchase: { amount: '25', everySeconds: 20 } } },
        { seed: spendingSeed, subaccounts: { ratePerSecond: '0.05', buyer: { amount: '10', everySeconds: 15 } } }));
      try {
        const [a] = s.tokens();
        for (let i = 0; i < 12; i++) {
          s.clock.ms += 7_321;
          await s.call('POST', '/v1/subaccount/credit/add', { apiKey: KEY, tokenSubaccount: a, credit: '0.5' });
        }
        return { events: await s.events(), calls: s.server.state.log.map((e) => ({ ...e })), state: s.server.state.snapshot().subaccounts.map((x) => x.balance) };
      } finally {
        await s.close();
      }
    };
    const one = await script('seed-1');
    const two = await script('seed-1');
    const other = await script('seed-2');
    expect(one.events.length).toBeGreaterThan(20);
    expect(two).toEqual(one);
    expect(other.events).not.toEqual(one.events);
  });

  it('buys credit on the main account and on isBuyer sub-accounts only, at intervals around the mean', async () => {
    sb = await start(seedWith([{ email: 'buyer@x.test', isBuyer: true, balance: '0' }, { email: 'plain@x.test', balance: '0' }],
      { spending: { purchase: { amount: '50', everySeconds: 10 } } }, { subaccounts: { buyer: { amount: '20', everySeconds: 10 } } }));
    const [buyer, plain] = sb.tokens();
    sb.clock.ms += 200_000;
    sb.server.state.spending.advance();
    const evs = await sb.events();
    const mainBuys = evs.filter((e) => e.account === 'main' && e.kind === 'purchase');
    const subBuys = evs.filter((e) => e.token === buyer && e.kind === 'purchase');
    expect(evs.filter((e) => e.token === plain)).toEqual([]);
    for (const buys of [mainBuys, subBuys]) {
      // Mean 10 s, each interval 5..15 s: 13 to 40 purchases in 200 s.
      expect(buys.length).toBeGreaterThanOrEqual(13);
      expect(buys.length).toBeLessThanOrEqual(40);
      const at = buys.map((e) => Date.parse(e.at));
      for (let i = 1; i < at.length; i++) {
        expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(5_000);
        expect(at[i] - at[i - 1]).toBeLessThanOrEqual(15_250);
      }
    }
    expect(sb.server.state.getMain(KEY)!.balance.toFixed()).toBe(new Decimal('1000').plus(new Decimal(50).times(mainBuys.length)).toFixed(3));
    expect(sb.server.state.getSub(buyer)!.balance.toFixed()).toBe(new Decimal(20).times(subBuys.length).toFixed(3));
    expect(sb.server.state.getSub(plain)!.balance.toFixed()).toBe('0.000');
  });

  it("answers a credit call with the exact balances right after it, and orders spending against the calls (afterCall)", async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '200' }], { subaccountSpending: { ratePerSecond: '0.3' }, spending: { ratePerSecond: '0.2' } }));
    const [token] = sb.tokens();
    const subAt = new Decimal('200');
    let main = new Decimal('1000');
    let sub = subAt;
    let seen = 0;
    for (let i = 1; i <= 8; i++) {
      sb.clock.ms += 1_130 * i;
      const route = i % 2 ? 'add' : 'remove';
      const r = await sb.call('POST', `/v1/subaccount/credit/${route}`, { apiKey: KEY, tokenSubaccount: token, credit: '3.5' });
      expect(r.json.success).toBe(true);
      const evs = await sb.events();
      const before = evs.slice(seen).filter((e) => e.afterCall < i);
      expect(evs.slice(seen).every((e) => e.afterCall === i - 1)).toBe(true);
      seen = evs.length;
      // Replay: the spending since the previous call, then this call.
      main = main.minus(sum(before.filter((e) => e.account === 'main').map((e) => e.amount)));
      sub = sub.minus(sum(before.filter((e) => e.token === token).map((e) => e.amount)));
      const delta = route === 'add' ? new Decimal('3.5') : new Decimal('-3.5');
      sub = sub.plus(delta);
      main = main.minus(delta);
      expect(new Decimal(r.text.match(/"credit":([\d.]+)/)![1]).toFixed(3)).toBe(main.toFixed(3));
      expect(new Decimal(r.text.match(/"subaccountCredit":([\d.]+)/)![1]).toFixed(3)).toBe(sub.toFixed(3));
      expect(sb.server.state.log.at(-1)).toMatchObject({ seq: i, mainAfter: main.toFixed(3), subAfter: sub.toFixed(3) });
    }
    expect(seen).toBeGreaterThan(10);
    // The applied-credit log holds credit calls only.
    expect(sb.server.state.log.map((e) => e.route)).toEqual(['add', 'remove', 'add', 'remove', 'add', 'remove', 'add', 'remove']);
  });

  it('control endpoint: sets, reads and stops rules', async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '100' }, { email: 'b@x.test', balance: '100' }]));
    const [a, b] = sb.tokens();
    const set = await sb.call('POST', '/__sandbox/spending', [{ token: '*', ratePerSecond: '0.04' }, { token: b, smsPerMinute: 60 }, { apiKey: KEY, ratePerSecond: 0.01, purchase: { amount: '10', everySeconds: 30 } }]);
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({
      active: true, tickMs: 250,
      subaccounts: { '*': { ratePerSecond: '0.04', pricePerSms: '0.045' }, [b]: { ratePerSecond: '0.045', pricePerSms: '0.045', smsPerMinute: '60' } },
      mains: { [KEY]: { ratePerSecond: '0.01', pricePerSms: '0.045', purchase: { amount: '10.000', everySeconds: 30 } } },
    });
    sb.clock.ms += 20_000;
    await sb.call('GET', `/v1/me?apiKey=${KEY}`);
    const evs = await sb.events();
    expect(usageOf(evs, a).length).toBeGreaterThan(0);
    expect(usageOf(evs, b).reduce((n, e) => n + e.sms!, 0)).toBeGreaterThan(usageOf(evs, a).reduce((n, e) => n + e.sms!, 0));
    const since = evs.at(-1)!.seq;
    expect((await sb.call('GET', `/__sandbox/spending/log?since=${since - 1}`)).json).toEqual([evs.at(-1)]);

    expect((await sb.call('DELETE', `/__sandbox/spending?token=${b}`)).json.subaccounts).toEqual({ '*': { ratePerSecond: '0.04', pricePerSms: '0.045' } });
    const stopped = await sb.call('DELETE', '/__sandbox/spending');
    expect(stopped.json).toMatchObject({ active: false, mains: {}, subaccounts: {} });
    const n = (await sb.events()).length;
    sb.clock.ms += 60_000;
    await sb.call('GET', `/v1/me?apiKey=${KEY}`);
    expect((await sb.events()).length).toBe(n);
  });

  it.each([
    ['no target', { ratePerSecond: '1' }],
    ['both targets', { token: '*', apiKey: KEY, ratePerSecond: '1' }],
    ['unknown sub-account', { token: 'nope', ratePerSecond: '1' }],
    ['unknown main account', { apiKey: 'nope', ratePerSecond: '1' }],
    ['negative rate', { token: '*', ratePerSecond: '-1' }],
    ['rate as text', { token: '*', ratePerSecond: 'fast' }],
    ['rate and smsPerMinute', { token: '*', ratePerSecond: '1', smsPerMinute: 3 }],
    ['price with 4 decimals', { token: '*', ratePerSecond: '1', pricePerSms: '0.0451' }],
    ['zero price', { token: '*', ratePerSecond: '1', pricePerSms: '0' }],
    ['unknown field', { token: '*', rate: '1' }],
    ['purchase on a sub-account', { token: '*', purchase: { amount: '1', everySeconds: 1 } }],
    ['buyer on a main account', { apiKey: KEY, buyer: { amount: '1', everySeconds: 1 } }],
    ['buyer on a non-buyer sub-account', 'non-buyer'],
    ['purchase every 0 s', { apiKey: KEY, purchase: { amount: '1', everySeconds: 0 } }],
    ['purchase of 0', { apiKey: KEY, purchase: { amount: '0', everySeconds: 10 } }],
    ['empty array', []],
    ['one bad rule in an array', 'array'],
    ['not an object', 'text'],
  ])('control endpoint refuses %s with 400 and changes nothing', async (_what, body) => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '100' }], { subaccountSpending: { ratePerSecond: '0.5' } }));
    const [a] = sb.tokens();
    const before = (await sb.call('GET', '/__sandbox/spending')).json;
    const payload = body === 'non-buyer' ? { token: a, buyer: { amount: '1', everySeconds: 5 } }
      : body === 'array' ? [{ token: '*', ratePerSecond: '9' }, { apiKey: KEY, ratePerSecond: 'x' }]
        : body === 'text' ? 'hello' : body;
    const r = await sb.call('POST', '/__sandbox/spending', payload);
    expect(r.status).toBe(400);
    expect(typeof r.json.error).toBe('string');
    expect((await sb.call('GET', '/__sandbox/spending')).json).toEqual(before);
  });

  it('refuses a bad spending log cursor with 400', async () => {
    sb = await start(seedWith(0));
    expect((await sb.call('GET', '/__sandbox/spending/log?since=-1')).status).toBe(400);
  });

  it('records control usage and purchases in the spending log, not in the applied-credit log', async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '10' }]));
    const [a] = sb.tokens();
    expect((await sb.call('POST', '/__sandbox/usage', { token: a, amount: '0.450' })).status).toBe(200);
    expect((await sb.call('POST', '/__sandbox/purchase', { apiKey: KEY, amount: '5' })).status).toBe(200);
    expect(await sb.events()).toEqual([
      expect.objectContaining({ seq: 1, kind: 'usage', account: 'subaccount', token: a, amount: '0.450', balanceAfter: '9.550', source: 'control', afterCall: 0 }),
      expect.objectContaining({ seq: 2, kind: 'purchase', account: 'main', apiKey: KEY, amount: '5.000', balanceAfter: '1005.000', source: 'control' }),
    ]);
    expect(sb.server.state.log).toEqual([]);
  });

  it('keeps the spending configuration in the state file; reset restores the seed’s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-spending-'));
    try {
      const stateFile = join(dir, 'state.json');
      const seed = seedWith([{ email: 'a@x.test', balance: '100', isBuyer: true }], { spending: { ratePerSecond: '0.01' } }, { subaccounts: { ratePerSecond: '0.05', buyer: { amount: '5', everySeconds: 60 } } });
      sb = await start(seed, { stateFile });
      const [a] = sb.tokens();
      const seeded = (await sb.call('GET', '/__sandbox/spending')).json;
      await sb.call('POST', '/__sandbox/spending', { token: a, ratePerSecond: '0.2', buyer: { amount: '7', everySeconds: 30 } });
      sb.clock.ms += 45_000;
      await sb.call('GET', `/v1/me?apiKey=${KEY}`);
      const configured = (await sb.call('GET', '/__sandbox/spending')).json;
      const snap = sb.server.state.snapshot();

      // A new sandbox on the same state file: same rules, PRNG, schedules and balances.
      const again = new SandboxState({ stateFile, now: () => new Date(sb!.clock.ms) });
      expect(again.spending.describe()).toEqual(configured);
      expect(again.snapshot().spending).toEqual(snap.spending);
      expect(again.getSub(a)!.balance.toFixed()).toBe(sb.server.state.getSub(a)!.balance.toFixed());

      expect((await sb.call('POST', '/__sandbox/reset')).status).toBe(200);
      expect((await sb.call('GET', '/__sandbox/spending')).json).toEqual(seeded);
      expect(await sb.events()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a reset seed with a bad spending rule and keeps the state', async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '100' }], { subaccountSpending: { ratePerSecond: '0.5' } }));
    const before = sb.server.state.snapshot();
    const r = await sb.call('POST', '/__sandbox/reset', { seed: 1, accounts: [{ apiKey: 'k', balance: '5', spending: { ratePerSecond: 'lots' } }] });
    expect(r.status).toBe(400);
    expect(sb.server.state.snapshot()).toEqual(before);
  });

  it('runs on its own timer when one is enabled', async () => {
    const server = await createSandboxServer({ port: 0, seed: { ...seedWith([{ email: 'a@x.test', balance: '100' }], { subaccountSpending: { ratePerSecond: '2' } }), spending: { tickMs: 20 } } });
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(server.state.spending.log().length).toBeGreaterThan(3);
    } finally {
      await server.close();
    }
  });
});

describe('fault apply_then_http_500', () => {
  it('applies the call, then answers HTTP 500 with a plain body', async () => {
    sb = await start(seedWith([{ email: 'a@x.test', balance: '10' }]));
    const [a] = sb.tokens();
    expect((await sb.call('POST', '/__sandbox/faults', { route: 'add', fault: 'apply_then_http_500', count: 1 })).status).toBe(200);
    const r = await sb.call('POST', '/v1/subaccount/credit/add', { apiKey: KEY, tokenSubaccount: a, credit: '2' });
    expect(r.status).toBe(500);
    expect(r.text).toBe('Internal Server Error');
    expect(sb.server.state.getSub(a)!.balance.toFixed()).toBe('12.000');
    expect(sb.server.state.log).toEqual([expect.objectContaining({ route: 'add', amount: '2.000', faultApplied: 'apply_then_http_500' })]);
  });
});
