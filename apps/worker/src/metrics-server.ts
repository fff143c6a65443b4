import { createServer, Server } from 'node:http';
import { Services } from '@app/services';

/** The worker's own /metrics (provider call latency and outcomes happen here) and /health/live. */
export function startMetricsServer(s: Services): Server | undefined {
  if (!s.config.WORKER_METRICS_PORT) return undefined;
  const server = createServer(async (req, res) => {
    if (req.url === '/metrics') {
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
  server.listen(s.config.WORKER_METRICS_PORT, '0.0.0.0');
  return server;
}
