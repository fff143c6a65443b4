import { createServer, Server } from 'node:http';
import { bearerMatches } from '@app/common';
import { Services } from '@app/services';

/**
 * The worker's own /metrics (provider call latency and outcomes happen here) and /health/live,
 * on WORKER_METRICS_HOST (loopback by default). With METRICS_TOKEN set, /metrics requires
 * `Authorization: Bearer <METRICS_TOKEN>`.
 */
export function startMetricsServer(s: Services): Server | undefined {
  if (!s.config.WORKER_METRICS_PORT) return undefined;
  const token = s.config.METRICS_TOKEN;
  const server = createServer(async (req, res) => {
    if (req.url === '/metrics') {
      if (token && !bearerMatches(req.headers.authorization, token)) {
        res.statusCode = 401;
        res.setHeader('content-type', 'application/json');
        res.setHeader('www-authenticate', 'Bearer');
        res.end(JSON.stringify({ error: { code: 'unauthorized', message: '/metrics requires Authorization: Bearer <METRICS_TOKEN>' } }));
        return;
      }
      res.setHeader('content-type', s.providerMetrics.registry.contentType);
      res.end(await s.providerMetrics.registry.metrics());
    } else if (req.url === '/health/live') {
      res.setHeader('content-type', 'application/json');
      res.end('{"status":"ok"}');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.on('error', (err) => s.logger.warn({ err: err.message }, 'worker metrics server unavailable'));
  server.listen(s.config.WORKER_METRICS_PORT, s.config.WORKER_METRICS_HOST);
  return server;
}
