import pino, { Logger } from 'pino';

/** Keys whose values are secrets wherever they appear in a log object. */
export const SECRET_KEYS = ['apiKey', 'apikey', 'authorization', 'token', 'tokens', 'password', 'secret', 'SMSPARTNER_API_KEY', 'API_TOKENS'];

const redactPaths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `req.headers.${k}`]);

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    base: { service: name },
  });
}

export type { Logger };
