/**
 * Provider sandbox process: answers the SMS Partner endpoints under /v1, control endpoints
 * under /__sandbox. Plain Fastify (no Nest): the same server runs in Jest tests.
 *
 * SANDBOX_PORT           port (default 4010; 0 = any free port)
 * SANDBOX_HOST           bind address (default 127.0.0.1)
 * SANDBOX_SEED_FILE      JSON seed ({seed, accounts:[…]}); overrides the three below
 * SANDBOX_STATE_FILE     persist state there (loaded at start, rewritten after each change)
 * SANDBOX_API_KEY        main account key of the default seed (default "sandbox-demo-key")
 * SANDBOX_MAIN_BALANCE   its balance (default "10225.119")
 * SANDBOX_SUBACCOUNTS    number of demo sub-accounts to seed (default 3)
 * SANDBOX_ERROR_STATUS   HTTP status of provider error bodies (default 200)
 * SANDBOX_INVALID_KEY_CODE  code of "invalid API key" on credit add/remove: 10 (default) or 9
 *
 * SMS spending (docs/sandbox.md, "Spending"), applied at every start over the seed's or the
 * state file's rules:
 * SANDBOX_SPENDING                      "off": no spending at all (the seed's and state file's rules are dropped)
 * SANDBOX_SPENDING_PER_SECOND           € per second spent by every sub-account
 * SANDBOX_SPENDING_MAIN_PER_SECOND      € per second spent by the main account
 * SANDBOX_SPENDING_PRICE                price of one SMS (default 0.045)
 * SANDBOX_SPENDING_PURCHASE_AMOUNT      credit bought on the main account…
 * SANDBOX_SPENDING_PURCHASE_EVERY_SECONDS …every that many seconds on average
 * SANDBOX_SPENDING_TICK_MS              step of the simulation (default 250)
 * SANDBOX_SPENDING_SEED                 seed of its PRNG (default "<seed>:spending")
 */
import '../../../libs/common/src/aliases';
import { createLogger } from '@app/common';
import { createSandboxServer, loadSeedFile, SandboxSeed, SpendingTargetInput } from '@app/sandbox';

async function main(): Promise<void> {
  const log = createLogger('sandbox');
  const env = process.env;
  const port = Number(env.SANDBOX_PORT ?? 4010);
  const subaccounts = Number(env.SANDBOX_SUBACCOUNTS ?? 3);
  if (!Number.isInteger(port) || port < 0) throw new Error('SANDBOX_PORT must be a port number');
  if (!Number.isInteger(subaccounts) || subaccounts < 0) throw new Error('SANDBOX_SUBACCOUNTS must be a non-negative integer');
  const invalidKeyCode = Number(env.SANDBOX_INVALID_KEY_CODE ?? 10);
  if (invalidKeyCode !== 9 && invalidKeyCode !== 10) throw new Error('SANDBOX_INVALID_KEY_CODE must be 9 or 10');

  const seed: SandboxSeed = env.SANDBOX_SEED_FILE
    ? loadSeedFile(env.SANDBOX_SEED_FILE)
    : {
        seed: 'credit-ledger-sandbox',
        accounts: [{
          apiKey: env.SANDBOX_API_KEY || 'sandbox-demo-key',
          username: 'demo@example.com',
          firstname: 'Demo',
          lastname: 'Reseller',
          balance: env.SANDBOX_MAIN_BALANCE ?? '10225.119',
          subaccounts,
        }],
      };
  const spendingOff = (env.SANDBOX_SPENDING ?? '').toLowerCase() === 'off';
  const spending = spendingOff ? [] : spendingFromEnv(env);
  if (spendingOff) {
    delete seed.spending;
    for (const acc of seed.accounts) {
      delete acc.spending;
      delete acc.subaccountSpending;
      if (Array.isArray(acc.subaccounts)) for (const s of acc.subaccounts) delete s.spending;
    }
  } else {
    // Part of the seed, so that a reset keeps them.
    const sub = spending.find((r) => r.token === '*');
    const main = spending.find((r) => r.apiKey === '*');
    seed.spending = {
      ...seed.spending,
      ...(env.SANDBOX_SPENDING_SEED ? { seed: env.SANDBOX_SPENDING_SEED } : {}),
      ...(env.SANDBOX_SPENDING_TICK_MS ? { tickMs: Number(env.SANDBOX_SPENDING_TICK_MS) } : {}),
      ...(sub ? { subaccounts: withoutTarget(sub) } : {}),
      ...(main ? { main: withoutTarget(main) } : {}),
    };
  }

  const server = await createSandboxServer({
    port,
    host: env.SANDBOX_HOST ?? '127.0.0.1',
    seed,
    ...(env.SANDBOX_STATE_FILE ? { stateFile: env.SANDBOX_STATE_FILE } : {}),
    ...(env.SANDBOX_ERROR_STATUS ? { errorHttpStatus: Number(env.SANDBOX_ERROR_STATUS) } : {}),
    invalidKeyCode,
  });
  // A state file keeps its own rules: the environment's are applied over them at every start.
  if (spendingOff) server.state.spending.stop();
  else {
    if (spending.length) server.state.spending.configure(spending);
    if (env.SANDBOX_SPENDING_TICK_MS) server.state.spending.setStep(Number(env.SANDBOX_SPENDING_TICK_MS));
  }
  const snap = server.state.snapshot();
  const rules = server.state.spending.describe();
  // Never log the api key: only where to look.
  log.info(
    { url: server.url, providerBaseUrl: server.providerBaseUrl, accounts: snap.accounts.length, subaccounts: snap.subaccounts.length, stateFile: env.SANDBOX_STATE_FILE ?? null,
      spending: rules.active ? { tickMs: rules.tickMs, subaccounts: rules.subaccounts['*'] ?? null, main: Object.keys(rules.mains).length ? 'on' : null } : 'off' },
    `provider sandbox listening on ${server.url} (provider base URL ${server.providerBaseUrl}, control ${server.url}/__sandbox/state)`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'sandbox stopping');
    server.close().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'sandbox close failed');
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** The spending rules the environment asks for ('*' = every sub-account / every main account). */
function spendingFromEnv(env: NodeJS.ProcessEnv): SpendingTargetInput[] {
  const price = env.SANDBOX_SPENDING_PRICE ? { pricePerSms: env.SANDBOX_SPENDING_PRICE } : {};
  const rules: SpendingTargetInput[] = [];
  if (env.SANDBOX_SPENDING_PER_SECOND) rules.push({ token: '*', ratePerSecond: env.SANDBOX_SPENDING_PER_SECOND, ...price });
  const purchase = env.SANDBOX_SPENDING_PURCHASE_AMOUNT
    ? { purchase: { amount: env.SANDBOX_SPENDING_PURCHASE_AMOUNT, everySeconds: Number(env.SANDBOX_SPENDING_PURCHASE_EVERY_SECONDS ?? 3600) } }
    : {};
  if (env.SANDBOX_SPENDING_MAIN_PER_SECOND || purchase.purchase) {
    rules.push({ apiKey: '*', ratePerSecond: env.SANDBOX_SPENDING_MAIN_PER_SECOND ?? '0', ...price, ...purchase });
  }
  return rules;
}

function withoutTarget({ token: _t, apiKey: _k, ...rule }: SpendingTargetInput) {
  return rule;
}

main().catch((err: unknown) => {
  // eslint-disable-next-line no-console
  console.error('sandbox failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
