import { CliError, EXIT, usageError } from './cli-input';

/** The HTTP API as the CLI sees it: bearer token, the API's error body turned into a CliError with its exit code. */

// API answers are plain JSON documents; the CLI reads only the fields the contract names.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export class Api {
  constructor(private readonly base: string, private readonly token: string | undefined) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError('unreachable', `cannot reach ${this.base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`, EXIT.failure);
    }
    if (res.status >= 400) {
      const text = await res.text();
      let code = `http_${res.status}`;
      let message = text.slice(0, 500);
      try { ({ code, message } = JSON.parse(text).error); } catch { /* not the API's error body */ }
      throw new CliError(code, `${method} ${path} → ${res.status} ${code}: ${message}`, res.status < 500 ? EXIT.refused : EXIT.failure, { status: res.status });
    }
    return res;
  }

  async json(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Json> {
    return (await this.request(method, path, body, headers)).json();
  }
}

export function apiFromEnv(): Api {
  const raw = process.env.CREDIT_LEDGER_URL ?? 'http://127.0.0.1:3000';
  let url: URL;
  try { url = new URL(raw); } catch { throw usageError(`CREDIT_LEDGER_URL is not a URL: ${raw}`); }
  if (!['http:', 'https:'].includes(url.protocol)) throw usageError('CREDIT_LEDGER_URL must be an http(s) URL');
  return new Api(raw.replace(/\/+$/, ''), process.env.CREDIT_LEDGER_TOKEN || undefined);
}
