import { applyDecorators, createParamDecorator, Delete, ExecutionContext, Get, HttpCode, Patch, Post, SetMetadata, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { fastifyPath, RouteDef } from '@app/api-contract';
import { DomainError } from '@app/common';
import { DeclaredInputGuard } from './declared-input.guard';
import { ROUTE_DEF, routeDefOf } from './route-def';

/** Route definitions that have a handler; the app refuses to start if one is missing. */
export const HANDLED_ROUTES = new Set<RouteDef>();

const METHOD = { GET: Get, POST: Post, PATCH: Patch, DELETE: Delete } as const;

/**
 * Binds a handler to its entry in the route table (libs/api-contract): path, method, the
 * role the auth guard enforces, and the schemas the parameter decorators validate with.
 */
export function Endpoint(def: RouteDef, successStatus?: number): MethodDecorator {
  HANDLED_ROUTES.add(def);
  // Runs after the global auth guard: an unauthenticated caller learns nothing about inputs.
  const decorators = [METHOD[def.method](fastifyPath(def.path)), SetMetadata(ROUTE_DEF, def), UseGuards(DeclaredInputGuard)];
  if (successStatus) decorators.push(HttpCode(successStatus));
  return applyDecorators(...decorators);
}

function routeOf(ctx: ExecutionContext): RouteDef {
  const def = routeDefOf(ctx.getHandler());
  if (!def) throw new Error('handler without @Endpoint');
  return def;
}

export function validate<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new DomainError('validation_failed', `invalid ${where}: ${r.error.issues.map((i) => `${i.path.join('.') || where}: ${i.message}`).join('; ')}`, {
    issues: r.error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message })),
  });
}

type Req = { body?: unknown; query?: unknown; params?: Record<string, string> };

/** The request body, validated with the route's schema (unknown fields refused). */
export const ValidBody = createParamDecorator((_: unknown, ctx: ExecutionContext) => {
  const def = routeOf(ctx);
  const req = ctx.switchToHttp().getRequest<Req>();
  if (!def.body) return undefined;
  if (def.bodyOptional && (req.body === undefined || (isEmptyObject(req.body)))) return undefined;
  if (req.body === undefined || req.body === null || typeof req.body !== 'object') {
    throw new DomainError('validation_failed', 'a JSON object body is required');
  }
  return validate(def.body, req.body, 'body');
});

/** The query string, validated with the route's schema (unknown parameters refused). */
export const ValidQuery = createParamDecorator((_: unknown, ctx: ExecutionContext) => {
  const def = routeOf(ctx);
  const query = ctx.switchToHttp().getRequest<Req>().query ?? {};
  return validate(def.query ?? z.strictObject({}), query, 'query');
});

/** A path parameter, validated with the route's schema for it. */
export const ValidParam = createParamDecorator((name: string, ctx: ExecutionContext) => {
  const def = routeOf(ctx);
  const schema = def.params?.[name];
  if (!schema) throw new Error(`route ${def.path} declares no parameter ${name}`);
  return validate(schema, ctx.switchToHttp().getRequest<Req>().params?.[name], name);
});

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}
