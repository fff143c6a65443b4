import { createServer, Server } from 'node:http';
import IORedis from 'ioredis';
import { Registry } from 'prom-client';
import { bearerMatches, errorBody, Logger } from '@app/common';
import { Config } from '@app/config';
import { Database } from '@app/persistence';

export interface MetricsServerDeps { config: Config; logger: Logger; registry: Registry; db: Database; redis: IORedis }

/**
 * The worker's own HTTP server on WORKER_METRICS_PORT: /metrics (this process's registry:
 * Node defaults and the provider calls it makes), /health/live, and /health/ready (Postgres
 * and Redis reachable: 200, else 503 with the failing check), on WORKER_METRICS_HOST (loopback
 * by default). With METRICS_TOKEN set, /metrics requires `Authorization: Bearer <METRICS_TOKEN>`.
 */
export function startMetricsServer(s: MetricsServerDeps): Server | undefined {
  if (!s.config.WORKER_METRICS_PORT) return undefined;
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  const token = s.config.METRICS_TOKEN;
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics') {
      if (token && !bearerMatches(req.headers.authorization, token)) {
        res.setHeader('www-authenticate', 'Bearer');
        json(res, 401, errorBody('unauthorized', '/metrics requires Authorization: Bearer <METRICS_TOKEN>'));
        return;
      }
      try {
        const text = await s.registry.metrics();
        res.setHeader('content-type', s.registry.contentType);
        res.end(text);
      } catch (err) {
        json(res, 503, errorBody('service_unavailable', `metrics unavailable: ${(err as Error).message}`));
      }
    } else if (path === '/health/live') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/health/ready') {
      const checks: Record<string, string> = {};
      await Promise.all([
        s.db.ping().then(() => (checks.postgres = 'ok'), (e: Error) => (checks.postgres = `down: ${e.message}`)),
        s.redis.ping().then(() => (checks.redis = 'ok'), (e: Error) => (checks.redis = `down: ${e.message}`)),
      ]);
      const ok = Object.values(checks).every((v) => v === 'ok');
      json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not_ready', checks });
    } else {
      json(res, 404, errorBody('not_found', `no route ${path}`));
    }
  });
  server.on('error', (err) => s.logger.warn({ err: err.message }, 'worker metrics server unavailable'));
  server.listen(s.config.WORKER_METRICS_PORT, s.config.WORKER_METRICS_HOST);
  return server;
}
