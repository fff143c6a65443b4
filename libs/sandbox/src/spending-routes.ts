import { FastifyInstance } from 'fastify';
import { SandboxError, SandboxState } from './sandbox-state';
import { SpendingError, SpendingTargetInput } from './spending';

/**
 * The spending simulation's wiring into the sandbox server: the clock (a timer that applies
 * the steps due, and every request first applies the steps due, so a reading is never a
 * tick behind) and the control routes under /__sandbox/spending.
 */
export function registerSpending(app: FastifyInstance, state: SandboxState, options: { timer?: boolean } = {}): { stop(): void } {
  app.addHook('onRequest', async () => {
    state.spending.advance();
  });

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped || options.timer === false) return;
    // Re-read the step each time: a reset may bring a seed with another tickMs.
    timer = setTimeout(() => {
      state.spending.advance();
      schedule();
    }, state.spending.stepMs);
    timer.unref();
  };
  schedule();

  const asControlError = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof SpendingError) throw new SandboxError(err.message);
      throw err;
    }
  };

  app.get('/__sandbox/spending', async () => state.spending.describe());

  app.get('/__sandbox/spending/log', async (req) => {
    const since = (req.query as { since?: string } | undefined)?.since;
    if (since !== undefined && !/^\d+$/.test(since)) throw new SandboxError('since must be a non-negative integer (an event seq)');
    return state.spending.log(since === undefined ? 0 : Number(since));
  });

  app.post('/__sandbox/spending', async (req) => {
    const body = req.body as SpendingTargetInput | SpendingTargetInput[] | undefined;
    if (!body || typeof body !== 'object') throw new SandboxError('JSON object (or array of objects) body expected');
    const rules = Array.isArray(body) ? body : [body];
    if (!rules.length) throw new SandboxError('no spending rule given');
    asControlError(() => state.spending.configure(rules));
    return state.spending.describe();
  });

  app.delete('/__sandbox/spending', async (req) => {
    const q = (req.query ?? {}) as { token?: string; apiKey?: string };
    if (q.token !== undefined && q.apiKey !== undefined) throw new SandboxError('give token or apiKey, not both');
    state.spending.stop({ ...(q.token !== undefined ? { token: q.token } : {}), ...(q.apiKey !== undefined ? { apiKey: q.apiKey } : {}) });
    return state.spending.describe();
  });

  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
