import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '@app/common';

interface Asset { type: string; body: Buffer; etag: string }

/** Where the page's files live in the source tree (and in the Docker image, see Dockerfile). */
export const DASHBOARD_DIR = join('apps', 'api', 'dashboard');

/**
 * tsc emits only .ts, so the HTML/CSS/JS stay plain files next to the sources: found by
 * walking up from this module to the project root (the repo, or /app in the image), the
 * same from src/ under ts-node and from dist/.
 */
export function dashboardDir(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, DASHBOARD_DIR);
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`dashboard files (${DASHBOARD_DIR}/index.html) not found above ${from}`);
  }
}

function asset(type: string, path: string): Asset {
  const body = readFileSync(path);
  return { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

// The page talks only to this origin; nothing inline, nothing from elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * Serves the dashboard at /dashboard: a static page that asks for a bearer token and calls
 * the /v1 routes with it, so it needs no auth of its own. Files are read once at start: a
 * missing file stops the API instead of serving a broken page.
 */
export function registerDashboard(fastify: FastifyInstance): void {
  const dir = dashboardDir();
  // chart.js does not export its UMD build as a subpath: found next to its main entry.
  const chartUmd = join(dirname(require.resolve('chart.js')), 'chart.umd.js');
  const page = asset('text/html; charset=utf-8', join(dir, 'index.html'));
  const assets: Record<string, Asset> = {
    'dashboard.js': asset('text/javascript; charset=utf-8', join(dir, 'dashboard.js')),
    'dashboard.css': asset('text/css; charset=utf-8', join(dir, 'dashboard.css')),
    'chart.umd.js': asset('text/javascript; charset=utf-8', chartUmd),
  };
  const send = (a: Asset, req: { headers: Record<string, string | string[] | undefined> }, reply: any) => {
    reply.header('cache-control', 'no-cache').header('etag', a.etag).header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer').header('content-security-policy', CSP);
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };
  fastify.get('/dashboard', async (req, reply) => send(page, req, reply));
  fastify.get('/dashboard/', async (req, reply) => send(page, req, reply));
  fastify.get<{ Params: { name: string } }>('/dashboard/assets/:name', async (req, reply) => {
    const a = Object.hasOwn(assets, req.params.name) ? assets[req.params.name] : undefined;
    if (!a) return reply.code(404).send(errorBody('not_found', `no dashboard asset ${req.params.name}`));
    return send(a, req, reply);
  });
}
