import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Money } from '@app/ledger';
import { SeededRandom } from './prng';
import { normalizeRule, SpendingError, SpendingRuleInput, SpendingSimulation } from './spending';

import {
  AppliedCreditCall, CreditRoute, DEFAULT_SEED, formatProviderDate, LIST_QUIRKS, ListQuirk, MainAccount, SandboxError, SandboxSeed, SandboxSnapshot, SandboxStateOptions, SeedSubaccount, Subaccount, SubaccountType,
} from './sandbox-model';

export * from './sandbox-model';

export class SandboxState {
  private seedConfig: SandboxSeed;
  private readonly stateFile?: string;
  private readonly now: () => Date;
  private rng!: SeededRandom;
  /** Seed the current PRNG came from (the state file's after a restore, which may differ from the configured seed). */
  private rngSeed: number | string = 1;
  private nextId = 1;
  private readonly mains = new Map<string, MainAccount>();
  /** Insertion order = creation order, which is the list order. */
  private readonly subs = new Map<string, Subaccount>();
  private appliedLog: AppliedCreditCall[] = [];
  /** SMS spending and purchases that move balances without any credit call (spending.ts). */
  readonly spending: SpendingSimulation;

  constructor(options: SandboxStateOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.stateFile = options.stateFile;
    this.spending = new SpendingSimulation({
      mains: () => [...this.mains.values()],
      subaccounts: () => [...this.subs.values()],
      lastCallSeq: () => this.appliedLog.at(-1)?.seq ?? 0,
      changed: () => this.persist(),
    }, this.now);
    this.seedConfig = options.seed ?? (options.seedFile ? loadSeedFile(options.seedFile) : DEFAULT_SEED);
    if (this.stateFile && existsSync(this.stateFile)) {
      this.restore(JSON.parse(readFileSync(this.stateFile, 'utf8')) as SandboxSnapshot);
    } else {
      this.applySeed(this.seedConfig);
      this.persist();
    }
  }

  /** Back to the seed (the given one, or the one the sandbox started with), spending included. Clears the logs. */
  reset(seed?: SandboxSeed): void {
    if (seed) this.seedConfig = seed;
    this.applySeed(this.seedConfig);
    this.persist();
  }

  // ---------------------------------------------------------------- reads

  getMain(apiKey: string): MainAccount | undefined {
    return this.mains.get(apiKey);
  }

  getSub(token: string): Subaccount | undefined {
    return this.subs.get(token);
  }

  subaccountsOf(parentApiKey: string): Subaccount[] {
    return [...this.subs.values()].filter((s) => s.parentApiKey === parentApiKey);
  }

  /** Emails are unique across the whole provider (main usernames included). */
  emailTaken(email: string): boolean {
    const e = email.toLowerCase();
    for (const s of this.subs.values()) if (s.email.toLowerCase() === e) return true;
    for (const m of this.mains.values()) if (m.username.toLowerCase() === e) return true;
    return false;
  }

  get log(): readonly AppliedCreditCall[] {
    return this.appliedLog;
  }

  /** A number in [0, 1) from the state's PRNG (persisted with the state). */
  random(): number {
    return this.rng.next();
  }

  snapshot(): SandboxSnapshot {
    return {
      version: 1,
      seed: this.rngSeed,
      rngState: this.rng.state,
      nextSubaccountId: this.nextId,
      accounts: [...this.mains.values()].map((m) => ({ ...m, balance: m.balance.toFixed() })),
      subaccounts: [...this.subs.values()].map((s) => ({ ...s, balance: s.balance.toFixed() })),
      log: this.appliedLog.map((e) => ({ ...e })),
      spending: this.spending.snapshot(),
    };
  }

  // ---------------------------------------------------------------- changes

  /** Creates or updates a main account (control endpoint). */
  upsertMainAccount(input: { apiKey: string; balance?: string | number; username?: string; firstname?: string; lastname?: string; subaccountsEnabled?: boolean }): MainAccount {
    const existing = this.mains.get(input.apiKey);
    const account: MainAccount = existing ?? {
      apiKey: input.apiKey,
      username: input.username ?? `${input.apiKey.slice(0, 8)}@sandbox.test`,
      firstname: input.firstname ?? 'Sandbox',
      lastname: input.lastname ?? 'Account',
      balance: Money.ZERO,
      subaccountsEnabled: true,
    };
    if (input.balance !== undefined) account.balance = nonNegative(input.balance, 'balance');
    if (input.username !== undefined) account.username = input.username;
    if (input.firstname !== undefined) account.firstname = input.firstname;
    if (input.lastname !== undefined) account.lastname = input.lastname;
    if (input.subaccountsEnabled !== undefined) account.subaccountsEnabled = input.subaccountsEnabled;
    this.mains.set(account.apiKey, account);
    this.persist();
    return account;
  }

  /**
   * Creates a sub-account. Validation (provider error codes) is the server's job; this only
   * refuses what would corrupt the state. `creditToAttribute` moves money from the main
   * account and is logged like an add.
   */
  createSubaccount(parentApiKey: string, input: { email: string; type: SubaccountType; isBuyer?: boolean; title?: string; firstname?: string; lastname?: string; creditToAttribute?: Money }, faultApplied?: string): Subaccount {
    const main = this.requireMain(parentApiKey);
    const credit = input.creditToAttribute ?? Money.ZERO;
    if (credit.isNegative() || credit.greaterThan(main.balance)) throw new SandboxError('creditToAttribute exceeds the main balance');
    const sub = this.insertSub(parentApiKey, { ...input, balance: Money.ZERO });
    if (credit.isPositive()) {
      main.balance = main.balance.minus(credit);
      sub.balance = credit;
      this.appendLog('create', sub, credit, main, faultApplied);
    }
    this.persist();
    return sub;
  }

  /** Applies an add (main → sub) or remove (sub → main). Throws if a balance would go negative. */
  applyCredit(route: CreditRoute, parentApiKey: string, token: string, amount: Money, faultApplied?: string): AppliedCreditCall {
    const main = this.requireMain(parentApiKey);
    const sub = this.subs.get(token);
    if (!sub || sub.parentApiKey !== parentApiKey) throw new SandboxError('unknown sub-account');
    if (!amount.isPositive()) throw new SandboxError('amount must be positive');
    const [from, to] = route === 'add' ? [main, sub] : [sub, main];
    if (amount.greaterThan(from.balance)) throw new SandboxError('insufficient credit');
    from.balance = from.balance.minus(amount);
    to.balance = to.balance.plus(amount);
    const entry = this.appendLog(route, sub, amount, main, faultApplied);
    this.persist();
    return entry;
  }

  /** Sets a balance directly (control endpoint): main by apiKey or sub-account by token. */
  setBalance(target: { token?: string; apiKey?: string }, balance: string | number): Money {
    const acc = this.target(target);
    acc.balance = nonNegative(balance, 'balance');
    this.persist();
    return acc.balance;
  }

  /** Makes the list endpoint misprint this sub-account's entry (null: print it normally again). */
  setListQuirk(token: string, quirk: ListQuirk | null): void {
    const sub = this.subs.get(token);
    if (!sub) throw new SandboxError(`unknown sub-account ${token}`);
    if (quirk !== null && !(LIST_QUIRKS as readonly string[]).includes(quirk)) throw new SandboxError(`list quirk must be one of ${LIST_QUIRKS.join(', ')}`);
    if (quirk === null) delete sub.listQuirk;
    else sub.listQuirk = quirk;
    this.persist();
  }

  /** Simulates SMS spending: the balance drops without any credit call. */
  usage(target: { token?: string; apiKey?: string }, amount: string | number): Money {
    const acc = this.target(target);
    const value = positive(amount);
    if (value.greaterThan(acc.balance)) throw new SandboxError(`usage ${value.toFixed()} exceeds balance ${acc.balance.toFixed()}`);
    acc.balance = acc.balance.minus(value);
    this.spending.recordControl('usage', target, value, acc.balance);
    this.persist();
    return acc.balance;
  }

  /** Simulates buying credit on the main account. */
  purchase(apiKey: string, amount: string | number): Money {
    const main = this.requireMain(apiKey);
    const value = positive(amount);
    main.balance = main.balance.plus(value);
    this.spending.recordControl('purchase', { apiKey }, value, main.balance);
    this.persist();
    return main.balance;
  }

  // ---------------------------------------------------------------- internals

  private applySeed(seed: SandboxSeed): void {
    checkSeedSpending(seed);
    this.rngSeed = seed.seed ?? 1;
    this.rng = new SeededRandom(this.rngSeed);
    this.nextId = 1;
    this.mains.clear();
    this.subs.clear();
    this.appliedLog = [];
    const mainSpending: Record<string, SpendingRuleInput> = {};
    const subSpending: Record<string, SpendingRuleInput> = {};
    for (const acc of seed.accounts) {
      if (!acc.apiKey) throw new SandboxError('seed account without apiKey');
      this.mains.set(acc.apiKey, {
        apiKey: acc.apiKey,
        username: acc.username ?? `${acc.apiKey.slice(0, 8)}@sandbox.test`,
        firstname: acc.firstname ?? 'Sandbox',
        lastname: acc.lastname ?? 'Account',
        balance: nonNegative(acc.balance, 'balance'),
        subaccountsEnabled: acc.subaccountsEnabled ?? true,
      });
      const subs: SeedSubaccount[] = typeof acc.subaccounts === 'number'
        ? Array.from({ length: acc.subaccounts }, (_, i) => ({ email: `customer${i + 1}.${acc.apiKey.slice(0, 6)}@sandbox.test`, type: 'simple' as const }))
        : acc.subaccounts ?? [];
      if (acc.spending) mainSpending[acc.apiKey] = acc.spending;
      for (const { spending, ...s } of subs) {
        const sub = this.insertSub(acc.apiKey, {
          ...s,
          email: s.email ?? `sub${this.nextId}@sandbox.test`,
          type: s.type ?? 'simple',
          balance: nonNegative(s.balance ?? '0', 'balance'),
        });
        const rule = spending ?? acc.subaccountSpending;
        if (rule) subSpending[sub.token] = rule;
      }
    }
    this.spending.load(seed.spending, mainSpending, subSpending, this.rngSeed);
  }

  private insertSub(parentApiKey: string, input: Omit<SeedSubaccount, 'balance'> & { email: string; type: SubaccountType; balance: Money }): Subaccount {
    // Tokens and keys come from the seeded PRNG so that runs are reproducible.
    let token = input.token ?? this.rng.string(16);
    while (this.subs.has(token)) token = this.rng.string(16);
    const sub: Subaccount = {
      id: this.nextId++,
      token,
      email: input.email,
      type: input.type,
      ...(input.title !== undefined ? { title: input.title } : {}),
      ...(input.firstname !== undefined ? { firstname: input.firstname } : {}),
      ...(input.lastname !== undefined ? { lastname: input.lastname } : {}),
      isBuyer: input.isBuyer ?? false,
      apiKey: input.apiKey ?? this.rng.string(32, '0123456789abcdef'),
      balance: input.balance,
      createdAt: input.createdAt ?? formatProviderDate(this.now()),
      parentApiKey,
    };
    this.subs.set(token, sub);
    return sub;
  }

  private appendLog(route: AppliedCreditCall['route'], sub: Subaccount, amount: Money, main: MainAccount, faultApplied?: string): AppliedCreditCall {
    const entry: AppliedCreditCall = {
      seq: this.appliedLog.length + 1,
      at: this.now().toISOString(),
      route,
      token: sub.token,
      amount: amount.toFixed(),
      mainAfter: main.balance.toFixed(),
      subAfter: sub.balance.toFixed(),
      ...(faultApplied ? { faultApplied } : {}),
    };
    this.appliedLog.push(entry);
    return entry;
  }

  private requireMain(apiKey: string): MainAccount {
    const main = this.mains.get(apiKey);
    if (!main) throw new SandboxError('unknown main account');
    return main;
  }

  private target(t: { token?: string; apiKey?: string }): { balance: Money } {
    if (t.token) {
      const sub = this.subs.get(t.token);
      if (!sub) throw new SandboxError(`unknown sub-account ${t.token}`);
      return sub;
    }
    if (t.apiKey) return this.requireMain(t.apiKey);
    throw new SandboxError('token or apiKey is required');
  }

  private restore(snap: SandboxSnapshot): void {
    if (snap.version !== 1) throw new SandboxError(`unsupported state file version ${String(snap.version)}`);
    this.rngSeed = snap.seed;
    this.rng = new SeededRandom(snap.seed);
    this.rng.state = snap.rngState;
    this.nextId = snap.nextSubaccountId;
    this.mains.clear();
    this.subs.clear();
    for (const m of snap.accounts) this.mains.set(m.apiKey, { ...m, balance: Money.parse(m.balance) });
    for (const s of snap.subaccounts) this.subs.set(s.token, { ...s, balance: Money.parse(s.balance) });
    this.appliedLog = snap.log.map((e) => ({ ...e }));
    this.spending.restore(snap.spending, snap.seed);
  }

  /** Write-then-rename so a crash mid-write never leaves a truncated state file. */
  private persist(): void {
    if (!this.stateFile) return;
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.snapshot(), null, 2));
    renameSync(tmp, this.stateFile);
  }
}

export function loadSeedFile(path: string): SandboxSeed {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as SandboxSeed;
  if (!parsed || !Array.isArray(parsed.accounts)) throw new SandboxError(`seed file ${path} has no "accounts" array`);
  return parsed;
}

function nonNegative(value: string | number, what: string): Money {
  const m = Money.parse(value);
  if (m.isNegative()) throw new SandboxError(`${what} must not be negative`);
  return m;
}

function positive(value: string | number): Money {
  const m = Money.parse(value);
  if (!m.isPositive()) throw new SandboxError('amount must be greater than 0');
  return m;
}

/** A seed's spending rules are all checked before the state changes (a bad reset body changes nothing). */
function checkSeedSpending(seed: SandboxSeed): void {
  try {
    if (seed.spending?.main) normalizeRule(seed.spending.main, 'main');
    if (seed.spending?.subaccounts) normalizeRule(seed.spending.subaccounts, 'subaccount');
    if (seed.spending?.tickMs !== undefined && !(Number.isInteger(seed.spending.tickMs) && seed.spending.tickMs >= 10 && seed.spending.tickMs <= 60_000)) {
      throw new SpendingError('spending.tickMs must be an integer between 10 and 60000');
    }
    for (const acc of seed.accounts) {
      if (acc.spending) normalizeRule(acc.spending, 'main');
      if (acc.subaccountSpending) normalizeRule(acc.subaccountSpending, 'subaccount');
      if (Array.isArray(acc.subaccounts)) for (const s of acc.subaccounts) if (s.spending) normalizeRule(s.spending, 'subaccount');
    }
  } catch (err) {
    if (err instanceof SpendingError) throw new SandboxError(`seed: ${err.message}`);
    throw err;
  }
}
