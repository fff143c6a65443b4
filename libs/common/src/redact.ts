import { timingSafeEqual } from 'node:crypto';
/** Keys whose values are secrets wherever they appear in a log object or a stored body. */
export const SECRET_KEYS = ['apiKey', 'apikey', 'api_key', 'authorization', 'cookie', 'token', 'tokens', 'password', 'secret', 'privateKey',
  'SMSPARTNER_API_KEY', 'API_TOKENS', 'WEBHOOK_SECRET', 'METRICS_TOKEN', 'JOURNAL_SIGNING_KEY'];

const secretKeys = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));
const MIN_SECRET_LENGTH = 6;

/**
 * Every secret value this process has seen: the provider's main key and API tokens (from the
 * configuration), and each sub-account's own provider key as the provider client reads it
 * (list entries, create answers). Only the values are kept, in memory, never stored: they are
 * what `scrubText`, `redactSecrets` and the log stream remove before anything is written.
 */
export class SecretRegistry {
  private readonly values = new Set<string>();
  /** The secrets by their first MIN_SECRET_LENGTH characters, each bucket longest first. */
  private readonly byPrefix = new Map<string, string[]>();

  add(...secrets: Array<string | undefined | null>): void {
    for (const s of secrets) {
      if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH || this.values.has(s)) continue;
      this.values.add(s);
      const prefix = s.slice(0, MIN_SECRET_LENGTH);
      const bucket = this.byPrefix.get(prefix);
      if (!bucket) this.byPrefix.set(prefix, [s]);
      else {
        bucket.push(s);
        bucket.sort((a, b) => b.length - a.length);
      }
    }
  }

  has(secret: string): boolean { return this.values.has(secret); }
  get size(): number { return this.values.size; }

  /** Every known secret (and any `apiKey=` query value) replaced by [redacted]. */
  scrub(text: string): string {
    const out = this.values.size && text.length >= MIN_SECRET_LENGTH ? this.replaceKnown(text) : text;
    return out.replace(/(api_?key=)[^&\s"]+/gi, '$1[redacted]');
  }

  /**
   * Left to right, the longest known secret starting at each position (a secret that contains
   * another is removed whole): one map lookup per character, whatever the number of secrets. A
   * regular expression of every secret cost a try of each per character: with the 10,000 keys
   * of a large list, scrubbing took longer than everything else the process did.
   */
  private replaceKnown(text: string): string {
    let out = '';
    let from = 0;
    for (let i = 0; i + MIN_SECRET_LENGTH <= text.length;) {
      const hit = this.byPrefix.get(text.slice(i, i + MIN_SECRET_LENGTH))?.find((s) => text.startsWith(s, i));
      if (!hit) { i++; continue; }
      out += `${text.slice(from, i)}[redacted]`;
      i += hit.length;
      from = i;
    }
    return from === 0 ? text : out + text.slice(from);
  }
}

/** The process-wide registry (one per process: the api, a worker, the cli). */
export const secrets = new SecretRegistry();

/**
 * Deep copy with every secret-looking key replaced and every known secret value scrubbed from
 * every string (keys included); used before storing provider bodies and journal data.
 */
export function redactSecrets<T>(value: T): T {
  if (typeof value === 'string') return secrets.scrub(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[secrets.scrub(k)] = secretKeys.has(k.toLowerCase()) ? '[redacted]' : redactSecrets(v);
    }
    return out as T;
  }
  return value;
}

/** Removes every known secret (the registry's, and `extra`) from a text (URLs, messages, errors). */
export function scrubText(text: string, extra: Array<string | undefined> = []): string {
  let out = secrets.scrub(text);
  for (const s of extra) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

/** Collects every `apiKey` / `api_key` string value in a provider body into the registry. */
export function learnSecretsFrom(value: unknown, depth = 0): void {
  if (depth > 20 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) { for (const v of value) learnSecretsFrom(v, depth + 1); return; }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === 'string' && /^api_?key$/i.test(k)) secrets.add(v);
    else learnSecretsFrom(v, depth + 1);
  }
}

/**
 * Whether an Authorization header carries `Bearer <token>`, compared in constant time (a
 * wrong token of the right length takes as long as any other).
 */
export function bearerMatches(header: string | string[] | undefined, token: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
