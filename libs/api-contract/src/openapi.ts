import { z } from 'zod';
import { ErrorCodes } from '@app/common';
import { RouteDef } from './routes';

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

/** Builds the OpenAPI 3.1 document from the same route table and schemas the validation uses. */
export function buildOpenApi(routes: RouteDef[], info: { version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    for (const [name, schema] of Object.entries(r.params ?? {})) parameters.push({ name, in: 'path', required: true, schema: jsonSchema(schema) });
    if (r.query) {
      const q = jsonSchema(r.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) parameters.push({ name, in: 'query', required: (q.required ?? []).includes(name) && !(schema as { default?: unknown }).default, schema });
    }
    if (r.idempotencyKey) parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 }, description: 'Same key + same body returns the original transfer; same key + another body is 409 idempotency_key_reused' });
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) {
      const code = Number(status);
      responses[status] = code >= 400
        ? { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
        : { description, content: Object.fromEntries((r.produces ?? ['application/json']).map((t) => [t, {}])) };
    }
    if (r.role !== 'public') {
      responses['401'] = { description: 'unauthorized: missing or invalid bearer token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
      responses['403'] = { description: `forbidden: requires role ${r.role} or higher`, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    if (r.body || r.query || r.params) responses['400'] ??= { description: 'validation_failed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    paths[r.path] ??= {};
    paths[r.path][r.method.toLowerCase()] = {
      tags: [r.tag],
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      security: r.role === 'public' ? [] : [{ bearer: [] }],
      'x-required-role': r.role,
      parameters,
      ...(r.body ? { requestBody: { required: !r.bodyOptional, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Credit Ledger API', version: info.version, description: 'Double-entry ledger for SMS Partner sub-account credits. Money is a string with 3 decimals.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', enum: Object.keys(ErrorCodes) }, message: { type: 'string' }, details: {} } } },
        },
      },
    },
    paths,
  };
}
