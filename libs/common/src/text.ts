/**
 * Text Postgres can store and every reader can show: no NUL character (Postgres refuses it in
 * text and jsonb) and no unpaired UTF-16 surrogate (not encodable as UTF-8).
 */
export function isStorableText(s: string): boolean {
  return !UNSTORABLE.test(s);
}

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const STORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired surrogates';

/** The path of the first string (key or value) in `value` that is not storable, or null. */
export function unstorableTextPath(value: unknown, path: string[] = [], depth = 0): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path.join('.');
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  for (const [k, v] of entries) {
    if (!isStorableText(k)) return [...path, JSON.stringify(k)].join('.');
    const found = unstorableTextPath(v, [...path, k], depth + 1);
    if (found !== null) return found;
  }
  return null;
}
