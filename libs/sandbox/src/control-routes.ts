import { FastifyInstance } from 'fastify';
import { FaultInjector, FaultRuleInput } from './faults';
import { SandboxError, SandboxSeed, SandboxState } from './sandbox-state';
import { objectBody, str, target } from './request-params';

/**
 * The sandbox's own control routes under `/__sandbox` (never part of the provider's API):
 * state, reset, accounts, balances, usage and purchases, the call log, fault rules and the
 * HTTP status of error bodies.
 */
export function registerControlRoutes(app: FastifyInstance, state: SandboxState, faults: FaultInjector, errorStatus: { get(): number; set(status: number): void }): void {
  app.get('/__sandbox/state', async () => ({ ...state.snapshot(), errorHttpStatus: errorStatus.get(), faults: faults.list() }));

  app.post('/__sandbox/reset', async (req) => {
    const body = req.body as Partial<SandboxSeed> | undefined;
    state.reset(body && Array.isArray(body.accounts) ? (body as SandboxSeed) : undefined);
    faults.clear();
    return { ok: true };
  });

  app.post('/__sandbox/accounts', async (req) => {
    const b = objectBody(req);
    if (!str(b.apiKey)) throw new SandboxError('apiKey is required');
    const m = state.upsertMainAccount({
      apiKey: str(b.apiKey),
      ...(b.balance !== undefined ? { balance: b.balance as string | number } : {}),
      ...(b.username !== undefined ? { username: str(b.username) } : {}),
      ...(b.firstname !== undefined ? { firstname: str(b.firstname) } : {}),
      ...(b.lastname !== undefined ? { lastname: str(b.lastname) } : {}),
      ...(b.subaccountsEnabled !== undefined ? { subaccountsEnabled: b.subaccountsEnabled === true } : {}),
    });
    return { apiKey: m.apiKey, username: m.username, balance: m.balance.toFixed(), subaccountsEnabled: m.subaccountsEnabled };
  });

  app.post('/__sandbox/balance', async (req) => {
    const b = objectBody(req);
    return { balance: state.setBalance(target(b), b.balance as string | number).toFixed() };
  });

  app.post('/__sandbox/usage', async (req) => {
    const b = objectBody(req);
    return { balance: state.usage(target(b), b.amount as string | number).toFixed() };
  });

  app.post('/__sandbox/purchase', async (req) => {
    const b = objectBody(req);
    return { balance: state.purchase(str(b.apiKey), b.amount as string | number).toFixed() };
  });

  app.get('/__sandbox/log', async () => state.log);

  app.get('/__sandbox/faults', async () => ({ rules: faults.list(), decisions: faults.decisions }));
  app.post('/__sandbox/faults', async (req) => {
    const body = req.body as FaultRuleInput | FaultRuleInput[];
    const rules = (Array.isArray(body) ? body : [body]).map((r) => faults.add(r));
    return { rules };
  });
  app.delete('/__sandbox/faults', async () => {
    faults.clear();
    return { ok: true };
  });

  app.post('/__sandbox/config', async (req) => {
    const b = objectBody(req);
    if (b.errorHttpStatus !== undefined) {
      const s = Number(b.errorHttpStatus);
      if (!Number.isInteger(s) || s < 200 || s > 599) throw new SandboxError('errorHttpStatus must be an HTTP status');
      errorStatus.set(s);
    }
    return { errorHttpStatus: errorStatus.get() };
  });
}
