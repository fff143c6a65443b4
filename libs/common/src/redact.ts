import { SECRET_KEYS } from './logger';

const secretKeys = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));

/** Deep copy with every secret-looking key replaced; used before storing provider bodies. */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = secretKeys.has(k.toLowerCase()) ? '[redacted]' : redactSecrets(v);
    }
    return out as T;
  }
  return value;
}

/** Removes literal occurrences of known secret values from a text (URLs, messages). */
export function scrubText(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/(apiKey=)[^&\s"]+/gi, '$1[redacted]');
}
