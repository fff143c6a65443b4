import { FastifyRequest } from 'fastify';
import { Money } from '@app/ledger';
import { ProviderBody } from './provider-request';
import { SandboxError } from './sandbox-state';

/** Reading a request's parameters, for the provider routes and the control routes alike. */

export type Params = Record<string, unknown>;

/** Query, then body (body wins). PHP-style `parameters[email]=…` keys are folded into `parameters`. */
export function collectParams(req: FastifyRequest): Params {
  const out: Params = {};
  const merge = (src: unknown) => {
    if (!src || typeof src !== 'object' || Array.isArray(src)) return;
    for (const [k, v] of Object.entries(src as Params)) {
      const m = /^parameters\[(\w+)\]$/.exec(k);
      if (m) {
        const params = (typeof out.parameters === 'object' && out.parameters !== null ? out.parameters : {}) as Params;
        params[m[1]] = v;
        out.parameters = params;
      } else out[k] = v;
    }
  };
  merge(req.query);
  // Provider routes get a ProviderBody (provider-request.ts); GET bodies are never read.
  merge((req.body as ProviderBody | undefined)?.params);
  return out;
}

export function objectBody(req: FastifyRequest): Params {
  const b = req.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new SandboxError('JSON object body expected');
  return b as Params;
}

export function target(b: Params): { token?: string; apiKey?: string } {
  return { ...(b.token ? { token: str(b.token) } : {}), ...(b.apiKey ? { apiKey: str(b.apiKey) } : {}) };
}

export function str(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}

export function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

/** A credit amount as the provider takes it: "100" or 100, > 0, at most 3 decimals. Null when invalid. */
export function parseAmount(v: unknown): Money | null {
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  try {
    const m = Money.parse(v);
    return m.isPositive() ? m : null;
  } catch {
    return null;
  }
}
