import { z } from 'zod';
import { ErrorCodes } from '@app/common';
import { responseRegistry } from './responses';
import { ResponseDef, RouteDef } from './routes';

const REF = (id: string) => `#/components/schemas/${id}`;

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

/** What each tag covers (the order of the reference page). */
export const TAGS: Array<{ name: string; description: string }> = [
  { name: 'Transfers', description: 'Move credits between the main account and a sub-account: recorded at once (pending), executed by the worker against the provider, posted, failed or in doubt.' },
  { name: 'Sub-accounts', description: "The provider's sub-accounts with their ledger balances and the latest provider reading." },
  { name: 'Ledger', description: 'Double-entry accounts, balances, statements and the hash-chained journal.' },
  { name: 'Reconciliation', description: "Runs that compare the provider's balances with the ledger, and the drift findings they open." },
  { name: 'Top-ups', description: 'Scheduled top-up policies (fixed amount or up to a target) and their runs.' },
  { name: 'Reports', description: 'Period reports for finance.' },
  { name: 'Webhooks', description: 'The webhook delivery log.' },
  { name: 'Operations', description: 'Health, metrics and the caller.' },
];

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: REF('Error') } } } });

/** Every response schema (named in responses.ts, or registered for its route), converted in one pass: nested named schemas become $refs. */
function componentSchemas(): Record<string, unknown> {
  const all = z.toJSONSchema(responseRegistry, { target: 'draft-2020-12', io: 'output', uri: REF, unrepresentable: 'any' }).schemas;
  const out: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(all)) {
    const { $schema: _s, $id: _i, ...rest } = s as Record<string, unknown>;
    out[id] = rest;
  }
  return out;
}

/** Builds the OpenAPI 3.1 document from the same route table and schemas the validation uses. */
export function buildOpenApi(routes: RouteDef[], info: { version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  const refOf = (schema: z.ZodType, fallbackId: string) => {
    // A schema without a name of its own is registered under its operation's name.
    if (!responseRegistry.has(schema)) responseRegistry.add(schema, { id: fallbackId });
    return { $ref: REF(responseRegistry.get(schema)!.id) };
  };
  for (const r of routes) {
    const operationId = `${r.method.toLowerCase()}${r.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`;
    const parameters: unknown[] = [];
    for (const [name, schema] of Object.entries(r.params ?? {})) parameters.push({ name, in: 'path', required: true, schema: jsonSchema(schema) });
    if (r.query) {
      const q = jsonSchema(r.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        const { description, ...rest } = schema as { description?: string };
        parameters.push({ name, in: 'query', required: (q.required ?? []).includes(name) && !(schema as { default?: unknown }).default, ...(description ? { description } : {}), schema: rest });
      }
    }
    if (r.idempotencyKey) parameters.push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 200 }, description: 'Same key + same body returns the original transfer; same key + another body is 409 idempotency_key_reused' });
    const responses: Record<string, unknown> = {};
    for (const [status, given] of Object.entries(r.responses)) {
      const def: ResponseDef = typeof given === 'string' ? { description: given } : given;
      const code = Number(status);
      if (code >= 400 && !def.schema) {
        responses[status] = errorResponse(def.description);
        continue;
      }
      const content: Record<string, unknown> = {};
      for (const type of code < 300 ? (r.produces ?? ['application/json']) : ['application/json']) {
        content[type] = type === 'application/json'
          ? (def.schema ? { schema: refOf(def.schema, `${operationId[0].toUpperCase()}${operationId.slice(1)}${status}`) } : {})
          : { schema: { type: 'string', description: TEXT_TYPES[type] ?? type } };
      }
      responses[status] = { description: def.description, content };
    }
    if (r.role !== 'public') {
      responses['401'] = errorResponse('unauthorized: missing or invalid bearer token');
      responses['403'] = errorResponse(`forbidden: requires role ${r.role} or higher`);
    }
    if (r.body || r.query || r.params) responses['400'] ??= errorResponse('validation_failed');
    paths[r.path] ??= {};
    paths[r.path][r.method.toLowerCase()] = {
      tags: [r.tag],
      summary: r.summary,
      description: `${r.summary}. Requires ${r.role === 'public' ? 'no token' : `the ${r.role} role or higher`}.`,
      operationId,
      security: r.role === 'public' ? [] : [{ bearer: [] }],
      'x-required-role': r.role,
      parameters,
      ...(r.body ? { requestBody: { required: !r.bodyOptional, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses,
    };
  }
  const used = new Set(routes.map((r) => r.tag));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Credit Ledger API',
      version: info.version,
      description: 'Double-entry ledger for SMS Partner sub-account credits. Money is a string with exactly 3 decimals; instants are ISO 8601 UTC. Authenticate with `Authorization: Bearer <token>`.',
      license: { name: 'UNLICENSED (proprietary)', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/', description: 'this API (the origin serving this document)' }],
    tags: [...TAGS.filter((t) => used.has(t.name)), ...[...used].filter((n) => !TAGS.some((t) => t.name === n)).map((name) => ({ name, description: name }))],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_TOKENS role:token; roles viewer < operator < admin' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', enum: Object.keys(ErrorCodes) }, message: { type: 'string' }, details: {} } } },
          examples: [{ error: { code: 'validation_failed', message: 'invalid body: amount: must be greater than 0' } }],
        },
        ...componentSchemas(),
      },
    },
    paths,
  };
}

const TEXT_TYPES: Record<string, string> = {
  'text/csv': 'CSV (UTF-8), a header row first; the same data as the JSON form',
  'application/x-ndjson': 'JSON lines: one object per line',
  'text/plain': 'Prometheus text exposition format',
};
