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
 */
import '../../../libs/common/src/aliases';
import { createLogger } from '@app/common';
import { createSandboxServer, SandboxSeed } from '@app/sandbox';

async function main(): Promise<void> {
  const log = createLogger('sandbox');
  const env = process.env;
  const port = Number(env.SANDBOX_PORT ?? 4010);
  const subaccounts = Number(env.SANDBOX_SUBACCOUNTS ?? 3);
  if (!Number.isInteger(port) || port < 0) throw new Error('SANDBOX_PORT must be a port number');
  if (!Number.isInteger(subaccounts) || subaccounts < 0) throw new Error('SANDBOX_SUBACCOUNTS must be a non-negative integer');
  const invalidKeyCode = Number(env.SANDBOX_INVALID_KEY_CODE ?? 10);
  if (invalidKeyCode !== 9 && invalidKeyCode !== 10) throw new Error('SANDBOX_INVALID_KEY_CODE must be 9 or 10');

  const seed: SandboxSeed | undefined = env.SANDBOX_SEED_FILE
    ? undefined
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

  const server = await createSandboxServer({
    port,
    host: env.SANDBOX_HOST ?? '127.0.0.1',
    ...(seed ? { seed } : { seedFile: env.SANDBOX_SEED_FILE }),
    ...(env.SANDBOX_STATE_FILE ? { stateFile: env.SANDBOX_STATE_FILE } : {}),
    ...(env.SANDBOX_ERROR_STATUS ? { errorHttpStatus: Number(env.SANDBOX_ERROR_STATUS) } : {}),
    invalidKeyCode,
  });
  const snap = server.state.snapshot();
  // Never log the api key: only where to look.
  log.info(
    { url: server.url, providerBaseUrl: server.providerBaseUrl, accounts: snap.accounts.length, subaccounts: snap.subaccounts.length, stateFile: env.SANDBOX_STATE_FILE ?? null },
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

main().catch((err: unknown) => {
  // eslint-disable-next-line no-console
  console.error('sandbox failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
