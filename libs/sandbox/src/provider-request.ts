/**
 * How the sandbox reads a provider request body. The provider's own request samples send the
 * same JSON text with `application/json`, with `application/x-www-form-urlencoded` (PHP's
 * curl with a string in CURLOPT_POSTFIELDS), with no Content-Type at all (Python `requests`
 * with `data=json.dumps(…)`), or with `application/json; charset=utf-8` (VB.net): the real
 * provider evidently reads the raw body as JSON whatever the header says. So does the sandbox:
 * the Content-Type is ignored and the bytes decide.
 */

/** Content type the sandbox gives every provider request before Fastify parses it (see sandbox-server.ts). */
export const PROVIDER_BODY_TYPE = 'application/x-sandbox-provider-body';

export type BodyParams = Record<string, unknown>;

export interface ProviderBody {
  params: BodyParams;
  /** How the bytes were read: json, form, empty, or unreadable (ignored: the checks then answer, e.g. code 1). */
  read: 'json' | 'form' | 'empty' | 'unreadable';
}

/**
 * UTF-8 (a leading BOM dropped), then: a text starting with `{` is JSON (an object, else
 * unreadable); anything else is a form body (`a=1&parameters[email]=…`). An unreadable body
 * contributes no parameter: the call is then judged on the query string alone, which answers
 * in the provider's shape (code 1 when the key is nowhere).
 */
export function readProviderBody(raw: Buffer | string | undefined): ProviderBody {
  if (raw === undefined) return { params: {}, read: 'empty' };
  let text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const trimmed = text.trim();
  if (trimmed === '') return { params: {}, read: 'empty' };
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const value: unknown = JSON.parse(trimmed);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { params: value as BodyParams, read: 'json' };
    } catch {
      // fall through
    }
    return { params: {}, read: 'unreadable' };
  }
  return { params: Object.fromEntries(new URLSearchParams(trimmed)), read: 'form' };
}
