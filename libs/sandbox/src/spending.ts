import Decimal from 'decimal.js';
import { Money } from '@app/ledger';
import { SeededRandom } from './prng';
import { normalizeRule, SpendingError, SpendingRule, SpendingRuleInput, SpendingTargetInput } from './spending-rules';

export * from './spending-rules';

/**
 * SMS spending, as the real provider's accounts live it: every sub-account (and the main
 * account) sends SMS, each SMS costs `pricePerSms`, so balances fall a little at a time with
 * no credit call of ours; the main account's owner buys credit now and then, and so do
 * sub-accounts created with `isBuyer`.
 *
 * The simulation advances in steps on a fixed grid (`anchor + k × tickMs`) of the sandbox
 * clock. At each step, for each account with a rule, it draws how many whole SMS were sent
 * (mean: rate × tickMs; the draw comes from its own seeded PRNG) and takes that many × price
 * off the balance, never more than the balance allows (the provider refuses to send: whole
 * SMS only, the balance stops at what is left). Purchases come at random intervals of mean
 * `everySeconds`. Same seed + same clock readings → same steps, same log.
 *
 * A step is applied synchronously, so a credit call never sees half a step: its answer is
 * the exact balance right after it. Each event records `afterCall`, the seq of the last
 * applied credit call (the applied-credit log) when it happened, which orders it exactly
 * against the calls.
 */

/** Seed-file form: defaults for every main account / every sub-account, PRNG seed, step. */
export interface SeedSpending {
  seed?: number | string;
  tickMs?: number;
  /** Rule for every main account (unless the account has its own `spending`). */
  main?: SpendingRuleInput;
  /** Rule for every sub-account (unless it has its own `spending`). */
  subaccounts?: SpendingRuleInput;
}

export interface SpendingEvent {
  seq: number;
  /** Sandbox clock of the step (ISO). */
  at: string;
  kind: 'usage' | 'purchase';
  account: 'main' | 'subaccount';
  /** Main account events: its api key (the sandbox shows keys; the real provider would not). */
  apiKey?: string;
  /** Sub-account events. */
  token?: string;
  /** Usage: whole SMS sent in this step. */
  sms?: number;
  amount: string;
  balanceAfter: string;
  /** seq of the last applied credit call (GET /__sandbox/log) when this happened; 0 = before any. */
  afterCall: number;
  /** `simulation`, or `control` for POST /__sandbox/usage and /__sandbox/purchase. */
  source: 'simulation' | 'control';
}

export interface SpendingSnapshot {
  seed: number | string;
  rngState: number;
  tickMs: number;
  /** Rules by main api key / sub-account token; '*' = every main account / every sub-account. */
  mains: Record<string, SpendingRule>;
  subaccounts: Record<string, SpendingRule>;
  /** SMS owed but not yet whole, per account key (`main:<apiKey>` / `sub:<token>`), as decimals. */
  carry: Record<string, string>;
  /** Next purchase instant (epoch ms) per account key. */
  nextPurchaseAt: Record<string, number>;
  nextSeq: number;
}

export interface SpendingAccount {
  balance: Money;
}

/** What the simulation needs from the sandbox state. */
export interface SpendingHost {
  mains(): Array<SpendingAccount & { apiKey: string }>;
  subaccounts(): Array<SpendingAccount & { token: string; isBuyer: boolean }>;
  /** seq of the last applied credit call. */
  lastCallSeq(): number;
  changed(): void;
}


export const DEFAULT_TICK_MS = 250;
/** In-memory log bound: the oldest events are dropped beyond it (seq keeps counting). */
export const SPENDING_LOG_LIMIT = 200_000;

export class SpendingSimulation {
  private rng: SeededRandom;
  private seed: number | string;
  private tickMs: number;
  private mainRules: Record<string, SpendingRule> = {};
  private subRules: Record<string, SpendingRule> = {};
  private carry = new Map<string, Decimal>();
  private nextPurchaseAt = new Map<string, number>();
  /** Last grid instant processed (epoch ms). */
  private processedUntil: number;
  private events: SpendingEvent[] = [];
  private nextSeq = 1;

  constructor(private readonly host: SpendingHost, private readonly now: () => Date, seed: number | string = 'spending', tickMs = DEFAULT_TICK_MS) {
    this.seed = seed;
    this.rng = new SeededRandom(seed);
    this.tickMs = validTick(tickMs);
    this.processedUntil = now().getTime();
  }

  // ---------------------------------------------------------------- configuration

  get stepMs(): number { return this.tickMs; }

  /** Changes the step (e.g. SANDBOX_SPENDING_TICK_MS at start); steps due so far are applied first. */
  setStep(tickMs: number): void {
    const ms = validTick(tickMs);
    this.advance();
    this.tickMs = ms;
    this.host.changed();
  }

  /** Any rule at all (the server runs its timer only then). */
  get active(): boolean {
    return Object.keys(this.mainRules).length + Object.keys(this.subRules).length > 0;
  }

  /** Replaces everything by a seed's spending (seed, step, rules); clears the log. */
  load(seed: SeedSpending | undefined, perMain: Record<string, SpendingRuleInput>, perSub: Record<string, SpendingRuleInput>, defaultSeed: number | string): void {
    this.seed = seed?.seed ?? `${String(defaultSeed)}:spending`;
    this.rng = new SeededRandom(this.seed);
    this.tickMs = validTick(seed?.tickMs ?? DEFAULT_TICK_MS);
    this.mainRules = {};
    this.subRules = {};
    this.carry.clear();
    this.nextPurchaseAt.clear();
    this.events = [];
    this.nextSeq = 1;
    this.processedUntil = this.now().getTime();
    if (seed?.main) this.mainRules['*'] = normalizeRule(seed.main, 'main');
    if (seed?.subaccounts) this.subRules['*'] = normalizeRule(seed.subaccounts, 'subaccount');
    for (const [k, r] of Object.entries(perMain)) this.mainRules[k] = normalizeRule(r, 'main');
    for (const [k, r] of Object.entries(perSub)) this.subRules[k] = normalizeRule(r, 'subaccount');
  }

  /**
   * Sets rules (control endpoint, env). All are validated before any is applied; spending up
   * to now is applied first at the old rates.
   */
  configure(inputs: SpendingTargetInput[]): void {
    const parsed = inputs.map((i) => this.parseTarget(i));
    this.advance();
    for (const p of parsed) {
      const rules = p.kind === 'main' ? this.mainRules : this.subRules;
      rules[p.key] = p.rule;
      this.dropSchedules(p.kind, p.key);
    }
    this.host.changed();
  }

  /** Stops spending: every rule, or the one of a main account / sub-account ('*' = the default rule). */
  stop(target: { token?: string; apiKey?: string } = {}): void {
    this.advance();
    if (target.token !== undefined) { delete this.subRules[target.token]; this.dropSchedules('sub', target.token); }
    else if (target.apiKey !== undefined) { delete this.mainRules[target.apiKey]; this.dropSchedules('main', target.apiKey); }
    else {
      this.mainRules = {};
      this.subRules = {};
      this.carry.clear();
      this.nextPurchaseAt.clear();
    }
    this.host.changed();
  }

  describe(): { seed: number | string; tickMs: number; active: boolean; mains: Record<string, SpendingRule>; subaccounts: Record<string, SpendingRule>; nextSeq: number } {
    return { seed: this.seed, tickMs: this.tickMs, active: this.active, mains: clone(this.mainRules), subaccounts: clone(this.subRules), nextSeq: this.nextSeq };
  }

  /** Events with seq > `since` (all by default). */
  log(since = 0): SpendingEvent[] {
    return this.events.filter((e) => e.seq > since);
  }

  snapshot(): SpendingSnapshot {
    return {
      seed: this.seed,
      rngState: this.rng.state,
      tickMs: this.tickMs,
      mains: clone(this.mainRules),
      subaccounts: clone(this.subRules),
      carry: Object.fromEntries([...this.carry].map(([k, v]) => [k, v.toFixed()])),
      nextPurchaseAt: Object.fromEntries(this.nextPurchaseAt),
      nextSeq: this.nextSeq,
    };
  }

  /** From a state file: rules, PRNG and schedules; the clock restarts now (no spending while the sandbox was stopped). */
  restore(snap: SpendingSnapshot | undefined, defaultSeed: number | string): void {
    if (!snap) { this.load(undefined, {}, {}, defaultSeed); return; }
    this.seed = snap.seed;
    this.rng = new SeededRandom(snap.seed);
    this.rng.state = snap.rngState;
    this.tickMs = validTick(snap.tickMs);
    this.mainRules = clone(snap.mains);
    this.subRules = clone(snap.subaccounts);
    this.carry = new Map(Object.entries(snap.carry ?? {}).map(([k, v]) => [k, new Decimal(v)]));
    this.nextPurchaseAt = new Map(Object.entries(snap.nextPurchaseAt ?? {}));
    const now = this.now().getTime();
    for (const [k, at] of this.nextPurchaseAt) if (at < now) this.nextPurchaseAt.set(k, now);
    this.events = [];
    this.nextSeq = snap.nextSeq ?? 1;
    this.processedUntil = now;
  }

  // ---------------------------------------------------------------- running

  /** Applies every step of the grid up to the sandbox clock's now. Returns the number of events. */
  advance(): number {
    const now = this.now().getTime();
    let n = 0;
    if (!this.active) {
      // Nothing spends: keep the grid at now so that a rule set later starts from there.
      if (now > this.processedUntil) this.processedUntil = now;
      return 0;
    }
    while (this.processedUntil + this.tickMs <= now) {
      this.processedUntil += this.tickMs;
      n += this.step(this.processedUntil);
    }
    if (n > 0) this.host.changed();
    return n;
  }

  /** A control-endpoint movement (POST /__sandbox/usage or /purchase), logged as such. */
  recordControl(kind: 'usage' | 'purchase', who: { apiKey?: string; token?: string }, amount: Money, balanceAfter: Money): void {
    this.push({ kind, account: who.token ? 'subaccount' : 'main', ...(who.token ? { token: who.token } : { apiKey: who.apiKey }), amount: amount.toFixed(), balanceAfter: balanceAfter.toFixed(), source: 'control' }, this.now().getTime());
  }

  private step(at: number): number {
    let n = 0;
    for (const main of this.host.mains()) {
      const rule = this.mainRules[main.apiKey] ?? this.mainRules['*'];
      if (!rule) continue;
      const key = `main:${main.apiKey}`;
      if (rule.purchase && this.purchaseDue(key, rule.purchase.everySeconds, at)) {
        main.balance = main.balance.plus(Money.parse(rule.purchase.amount));
        this.push({ kind: 'purchase', account: 'main', apiKey: main.apiKey, amount: rule.purchase.amount, balanceAfter: main.balance.toFixed(), source: 'simulation' }, at);
        n++;
      }
      n += this.spend(key, rule, main, at, { account: 'main', apiKey: main.apiKey });
    }
    for (const sub of this.host.subaccounts()) {
      const rule = this.subRules[sub.token] ?? this.subRules['*'];
      if (!rule) continue;
      const key = `sub:${sub.token}`;
      if (rule.buyer && sub.isBuyer && this.purchaseDue(key, rule.buyer.everySeconds, at)) {
        sub.balance = sub.balance.plus(Money.parse(rule.buyer.amount));
        this.push({ kind: 'purchase', account: 'subaccount', token: sub.token, amount: rule.buyer.amount, balanceAfter: sub.balance.toFixed(), source: 'simulation' }, at);
        n++;
      }
      n += this.spend(key, rule, sub, at, { account: 'subaccount', token: sub.token });
    }
    return n;
  }

  /** Whole SMS for one step: the owed count grows by rate × step × (0.5..1.5), whole ones are sent. */
  private spend(key: string, rule: SpendingRule, acc: SpendingAccount, at: number, who: Pick<SpendingEvent, 'account' | 'apiKey' | 'token'>): number {
    const rate = new Decimal(rule.ratePerSecond);
    if (rate.isZero()) return 0;
    const price = new Decimal(rule.pricePerSms);
    const meanSms = rate.times(this.tickMs).dividedBy(1000).dividedBy(price);
    // The jitter is a draw in [0.5, 1.5): a fraction, never money. Rounded to 6 decimals so the
    // carry stays a short exact decimal.
    const jitter = new Decimal(this.rng.next().toFixed(6)).plus('0.5');
    let owed = (this.carry.get(key) ?? new Decimal(0)).plus(meanSms.times(jitter));
    let sms = owed.floor();
    owed = owed.minus(sms);
    const affordable = new Decimal(acc.balance.toFixed()).dividedToIntegerBy(price);
    if (sms.greaterThan(affordable)) {
      // The provider refuses what the balance cannot pay: stop at the last whole SMS.
      sms = affordable;
      owed = new Decimal(0);
    }
    this.carry.set(key, owed);
    if (sms.isZero()) return 0;
    const amount = Money.parse(sms.times(price));
    acc.balance = acc.balance.minus(amount);
    this.push({ kind: 'usage', ...who, sms: sms.toNumber(), amount: amount.toFixed(), balanceAfter: acc.balance.toFixed(), source: 'simulation' }, at);
    return 1;
  }

  private purchaseDue(key: string, everySeconds: number, at: number): boolean {
    let next = this.nextPurchaseAt.get(key);
    if (next === undefined) {
      next = at + this.interval(everySeconds);
      this.nextPurchaseAt.set(key, next);
    }
    if (at < next) return false;
    this.nextPurchaseAt.set(key, Math.max(next, at) + this.interval(everySeconds));
    return true;
  }

  /** Random interval with mean `everySeconds`: uniform in [0.5, 1.5) × everySeconds, in whole ms. */
  private interval(everySeconds: number): number {
    return Math.max(this.tickMs, Math.round(everySeconds * 1000 * (0.5 + this.rng.next())));
  }

  private push(e: Omit<SpendingEvent, 'seq' | 'at' | 'afterCall'>, at: number): void {
    this.events.push({ seq: this.nextSeq++, at: new Date(at).toISOString(), ...e, afterCall: this.host.lastCallSeq() } as SpendingEvent);
    if (this.events.length > SPENDING_LOG_LIMIT) this.events.splice(0, this.events.length - SPENDING_LOG_LIMIT);
  }

  private dropSchedules(kind: 'main' | 'sub', key: string): void {
    if (key === '*') {
      for (const k of [...this.nextPurchaseAt.keys()]) if (k.startsWith(`${kind}:`)) this.nextPurchaseAt.delete(k);
    } else this.nextPurchaseAt.delete(`${kind}:${key}`);
  }

  private parseTarget(i: SpendingTargetInput): { kind: 'main' | 'sub'; key: string; rule: SpendingRule } {
    if (!i || typeof i !== 'object' || Array.isArray(i)) throw new SpendingError('each spending rule must be an object');
    const token = typeof i.token === 'string' ? i.token.trim() : undefined;
    const apiKey = typeof i.apiKey === 'string' ? i.apiKey.trim() : undefined;
    if (!token === !apiKey) throw new SpendingError('give exactly one of token (a sub-account, or "*" for every sub-account) and apiKey (a main account, or "*")');
    if (token) {
      const sub = token === '*' ? undefined : this.host.subaccounts().find((s) => s.token === token);
      if (token !== '*' && !sub) throw new SpendingError(`unknown sub-account ${token}`);
      if (i.purchase !== undefined) throw new SpendingError('purchase is for a main account (apiKey); a sub-account buys with "buyer"');
      if (i.buyer !== undefined && sub && !sub.isBuyer) throw new SpendingError(`sub-account ${token} is not a buyer (isBuyer): it cannot buy credit`);
      return { kind: 'sub', key: token, rule: normalizeRule(i, 'subaccount') };
    }
    if (apiKey !== '*' && !this.host.mains().some((m) => m.apiKey === apiKey)) throw new SpendingError('unknown main account');
    if (i.buyer !== undefined) throw new SpendingError('buyer is for an isBuyer sub-account (token); a main account buys with "purchase"');
    return { kind: 'main', key: apiKey!, rule: normalizeRule(i, 'main') };
  }
}

function validTick(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 10 || ms > 60_000) throw new SpendingError('tickMs must be an integer between 10 and 60000');
  return ms;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}
