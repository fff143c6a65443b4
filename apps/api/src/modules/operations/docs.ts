import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ALL_ROUTES, buildOpenApi } from '@app/api-contract';
import { errorBody } from '@app/common';

export function openApiDocument(version: string) {
  return buildOpenApi(ALL_ROUTES, { version });
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credit Ledger API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs-init.js"></script>
</body></html>`;

// "Authorize" takes a bearer token; "Try it out" calls this same origin.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/docs-json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false,
  defaultModelsExpandDepth: 1, docExpansion: 'list', tryItOutEnabled: false, validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout',
});`;

const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The API reference at /docs: Swagger UI (the swagger-ui-dist package, served from
 * node_modules, nothing from a CDN) over the OpenAPI document at /docs-json.
 */
export function registerDocs(fastify: FastifyInstance, version: string): void {
  const doc = openApiDocument(version);
  const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
  const assets: Record<string, { type: string; body: Buffer | string }> = {
    'swagger-ui.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(dist, 'swagger-ui.css')) },
    'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dist, 'swagger-ui-bundle.js')) },
    'docs-init.js': { type: 'text/javascript; charset=utf-8', body: INIT },
  };
  const headers = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' };
  fastify.get('/docs-json', async () => doc);
  fastify.get('/docs', async (_req, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(PAGE));
  fastify.get<{ Params: { name: string } }>('/docs/assets/:name', async (req, reply) => {
    const a = Object.hasOwn(assets, req.params.name) ? assets[req.params.name] : undefined;
    if (!a) return reply.code(404).send(errorBody('not_found', `no docs asset ${req.params.name}`));
    return reply.headers(headers).type(a.type).send(a.body);
  });
}
