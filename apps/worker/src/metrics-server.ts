import { createServer, Server } from 'node:http';
import { Services } from '@app/services';

/**
 * The worker's own HTTP server on WORKER_METRICS_PORT: /metrics (this process's registry:
 * Node defaults and the provider calls it makes), /health/live, and /health/ready (Postgres
 * and Redis reachable: 200, else 503 with the failing check).
 */
export function startMetricsServer(s: Services): Server | undefined {
  if (!s.config.WORKER_METRICS_PORT) return undefined;
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/metrics') {
      try {
        const text = await s.metrics.metrics();
        res.setHeader('content-type', s.metrics.contentType);
        res.end(text);
      } catch (err) {
        json(res, 503, { error: { code: 'service_unavailable', message: `metrics unavailable: ${(err as Error).message}` } });
      }
    } else if (path === '/health/live') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/health/ready') {
      const checks: Record<string, string> = {};
      await Promise.all([
        s.db.ping().then(() => (checks.postgres = 'ok'), (e: Error) => (checks.postgres = `down: ${e.message}`)),
        s.producerRedis.ping().then(() => (checks.redis = 'ok'), (e: Error) => (checks.redis = `down: ${e.message}`)),
      ]);
      const ok = Object.values(checks).every((v) => v === 'ok');
      json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not_ready', checks });
    } else {
      json(res, 404, { error: { code: 'not_found', message: `no route ${path}` } });
    }
  });
  server.on('error', (err) => s.logger.warn({ err: err.message }, 'worker metrics server unavailable'));
  server.listen(s.config.WORKER_METRICS_PORT, '0.0.0.0');
  return server;
}
