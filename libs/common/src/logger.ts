import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { Logger } from 'pino';
import { SECRET_KEYS, secrets } from './redact';

const redactPaths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `req.headers.${k}`]);

/**
 * What every log line written while serving one request or one job carries: the API sets
 * `reqId`, the worker `jobId` (and the queue). Use cases log through the shared logger and
 * get these fields without being passed a child logger.
 */
export interface LogContext { reqId?: string; jobId?: string; queue?: string; job?: string }
export const logContext = new AsyncLocalStorage<LogContext>();

/** Query parameters that carry credentials (bull-board's `?token=` login) never reach a log. */
export function scrubUrl(url: string): string {
  return url.replace(/([?&](?:token|apiKey|apikey)=)[^&#]*/g, '$1[redacted]');
}

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    // Whatever a line holds (a provider message, an error), every secret the process knows is
    // removed from the written text.
    hooks: { streamWrite: (line: string) => secrets.scrub(line) },
    timestamp: pino.stdTimeFunctions.isoTime,
    base: { service: name },
    // Fastify's request logger already binds reqId: skip it there rather than writing it twice.
    mixin(_obj, _level, logger) {
      const ctx = logContext.getStore();
      if (!ctx) return {};
      if (ctx.reqId && (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym]?.includes('"reqId"')) {
        const { reqId: _bound, ...rest } = ctx;
        return rest;
      }
      return { ...ctx };
    },
    serializers: {
      req: (req: { method?: string; url?: string; hostname?: string; ip?: string; id?: string }) => ({
        method: req.method, url: req.url ? scrubUrl(req.url) : req.url, hostname: req.hostname, remoteAddress: req.ip,
      }),
    },
  });
}

export type { Logger };
